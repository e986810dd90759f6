package privmount

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func mountedAt(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// TestDoMountsPrivatelyAndComesBack: what fn mounts is not in the host's
// table, and the thread Do ran on is back in the host's mount namespace
// when fn's work is done (do runs here on this test's locked thread).
func TestDoMountsPrivatelyAndComesBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := filepath.Join(t.TempDir(), "m")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var inside bool
	if err := Do(func() error {
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			return err
		}
		inside = mountedAt(t, dir)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !inside {
		t.Error("fn's mount was not in fn's own table")
	}
	if mountedAt(t, dir) {
		unix.Unmount(dir, unix.MNT_DETACH)
		t.Fatal("fn's mount reached the host's table")
	}

	// Never unlocked: do leaves the thread with a filesystem context of
	// its own, which no other goroutine should inherit.
	runtime.LockOSThread()
	host, err := os.Readlink("/proc/thread-self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	if err := do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink("/proc/thread-self/ns/mnt"); after != host {
		t.Errorf("thread after do: mount namespace %s, want the host's %s", after, host)
	}
}
