package namespaces

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// leakFd opens path without close-on-exec at descriptor n of this process,
// as a careless parent of the daemon would leave it.
func leakFd(t *testing.T, path string, flags, n int) {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Dup3(fd, n, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(n) })
}

// heldBy returns the descriptors of pid that are the file at path.
func heldBy(t *testing.T, pid int, path string) []string {
	t.Helper()
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("descriptors of %d: %v", pid, err)
	}
	var out []string
	for _, e := range entries {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestInheritedDescriptorsStayOutOfZones: descriptors the spawning process
// holds without close-on-exec (this test process does not mark them, as
// the daemon does at start) reach neither the zone's init, nor the nsenter
// helper that joins the zone, nor the command it runs; and the zone cannot
// write into the host directory through them.
func TestInheritedDescriptorsStayOutOfZones(t *testing.T) {
	requireZones(t)
	hostDir := t.TempDir()
	hostFile := filepath.Join(t.TempDir(), "leaked")
	leakFd(t, hostDir, unix.O_RDONLY|unix.O_DIRECTORY, 10)
	leakFd(t, hostFile, unix.O_RDWR|unix.O_CREAT, 251)

	z := startZone(t, sleepInit, nil)
	for _, p := range []string{hostDir, hostFile} {
		if fds := heldBy(t, z.init.Pid, p); len(fds) > 0 {
			t.Errorf("zone init holds %s at %v", p, fds)
		}
	}
	// The command stays alive on its stdin while we look at it and at
	// the helper relaying its status.
	p, outR, _ := z.start(t, "", "sh", "-c", `touch /proc/1/fd/10/x /proc/self/fd/10/y 2>/dev/null; echo $(ls /proc/self/fd/) END; exec sleep 60`)
	// Until the command has listed its descriptors, and then sleeps.
	out, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("read the command's output: %v", err)
	}
	for _, pid := range []int{p.Pid, p.cmd.Process.Pid} {
		for _, path := range []string{hostDir, hostFile} {
			if fds := heldBy(t, pid, path); len(fds) > 0 {
				t.Errorf("process %d of the exec holds %s at %v", pid, path, fds)
			}
		}
	}
	_ = p.Signal(unix.SIGKILL)
	_, _ = p.Wait()
	if got := strings.Fields(out); contains(got, "10") || contains(got, "251") {
		t.Errorf("command's descriptors: %v", got)
	}
	if entries, _ := os.ReadDir(hostDir); len(entries) > 0 {
		t.Errorf("the zone wrote into the host directory: %v", entries)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestCloseOnExecFrom: both ways (close_range, and the walk of
// /proc/self/fd for kernels without CLOSE_RANGE_CLOEXEC) mark a
// descriptor inherited without close-on-exec, leave lower ones alone, and
// keep it open.
func TestCloseOnExecFrom(t *testing.T) {
	for name, mark := range map[string]func(int) error{"close_range": CloseOnExecFrom, "walk": closeOnExecByWalk} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			leakFd(t, path, unix.O_RDWR|unix.O_CREAT, 300)
			leakFd(t, path, unix.O_RDWR, 200)
			if err := mark(250); err != nil {
				t.Fatal(err)
			}
			for fd, want := range map[int]bool{300: true, 200: false} {
				flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
				if err != nil {
					t.Fatalf("descriptor %d: %v", fd, err)
				}
				if got := flags&unix.FD_CLOEXEC != 0; got != want {
					t.Errorf("descriptor %d close-on-exec %v, want %v", fd, got, want)
				}
			}
		})
	}
}
