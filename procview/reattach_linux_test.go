package procview

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// serverEnv makes the test binary a view server of the state directory
// it names (TestMain), so a test can kill a server as a process dies.
const serverEnv = "PROCVIEW_TEST_SERVE"

// testServer runs a view server of state in a process of its own and
// returns it once its mount answers; it is killed when the test ends.
func testServer(t *testing.T, state string) *exec.Cmd {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no /dev/fuse (CONFIG_FUSE_FS): %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+state)
	cmd.Stderr = os.Stderr
	// Not Pdeathsig, which fires when the thread that forked ends (Go
	// ends threads, Reattach's among them): the server ends when its
	// stdin does, with the test.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		for i := 0; i < 16 && unix.Unmount(MountDir(state), unix.MNT_DETACH) == nil; i++ {
		}
	})
	for i := 0; i < 600; i++ {
		var st unix.Statfs_t
		if unix.Statfs(MountDir(state), &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC {
			return cmd
		}
		select {
		case <-exited:
			t.Fatalf("test view server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("test view server did not mount %s", MountDir(state))
	return nil
}

// serveForTest is the body of a test view server: it serves until
// killed.
func serveForTest(state string) {
	if err := os.MkdirAll(MountDir(state), 0o711); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := mountView(state)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Unmount()
		os.Exit(0)
	}()
	srv.Wait()
	os.Exit(0)
}

// killServer kills a test view server with SIGKILL and waits for the
// kernel to have aborted its connection.
func killServer(t *testing.T, cmd *exec.Cmd, state string) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600; i++ {
		var st unix.Statfs_t
		if err := unix.Statfs(MountDir(state), &st); errors.Is(err, unix.ENOTCONN) {
			// As Serve does with a dead server's mount.
			if err := unix.Unmount(MountDir(state), unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the killed view server's mount still answers")
}

// bindZone starts a process in a mount namespace of its own that binds
// the zone's view files over its /proc and /sys files, as a zone's init
// does, and returns its PID once they are bound.
func bindZone(t *testing.T, state, zone string) int {
	t.Helper()
	names := make([]string, 0, len(Files))
	for n := range Files {
		names = append(names, n)
	}
	sort.Strings(names)
	script := "mount --make-rprivate / || exit 1\n"
	for _, n := range names {
		script += fmt.Sprintf("mount --bind -o ro %s %s || exit 1\n", filepath.Join(ZoneDir(state, zone), n), Files[n])
	}
	script += "echo ready; read x\n"
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("the test zone did not bind its view files: %q %v", line, err)
	}
	return cmd.Process.Pid
}

// TestReattachAfterServerDeath: a zone bound to a view whose server died
// reads ENOTCONN; Reattach binds the files of the new server's mount in
// their place, in the zone's mount namespace, read-only.
func TestReattachAfterServerDeath(t *testing.T) {
	requireRoot(t)
	cgPath, _ := testCgroup(t)
	state := t.TempDir()
	srv := testServer(t, state)
	if err := SetZone(state, "z", Config{Cgroup: cgPath}); err != nil {
		t.Fatal(err)
	}
	pid := bindZone(t, state, "z")
	start, err := StartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetZone(state, "z", Config{Cgroup: cgPath, InitPID: pid, InitStart: start}); err != nil {
		t.Fatal(err)
	}
	inZone := fmt.Sprintf("/proc/%d/root", pid)
	if _, err := os.ReadFile(inZone + "/proc/meminfo"); err != nil {
		t.Fatalf("the zone's view before the server died: %v", err)
	}
	killServer(t, srv, state)
	if _, err := os.ReadFile(inZone + "/proc/meminfo"); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("the zone's view after its server died: %v, want ENOTCONN", err)
	}
	testServer(t, state)
	if err := Reattach(state, "z", pid, start); err != nil {
		t.Fatal(err)
	}
	for n, p := range Files {
		data, err := os.ReadFile(inZone + p)
		if err != nil || len(data) == 0 {
			t.Errorf("%s in the zone after Reattach: %q, %v", p, data, err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(inZone+p, &st); err != nil || st.Type != unix.FUSE_SUPER_MAGIC || st.Flags&unix.ST_RDONLY == 0 {
			t.Errorf("%s (%s) in the zone after Reattach: type %x flags %x, %v; want a read-only FUSE mount", p, n, st.Type, st.Flags, err)
		}
	}
	if strings.Contains(string(must(os.ReadFile("/proc/self/mountinfo"))), MountDir(state)+"/z/") {
		t.Errorf("Reattach left a view file mounted in the test's own mount namespace")
	}
	// A second Reattach finds live views and leaves them.
	if err := Reattach(state, "z", pid, start); err != nil {
		t.Fatal(err)
	}
	// An init that is gone (another start time) is refused.
	if err := Reattach(state, "z", pid, start+1); err == nil {
		t.Errorf("Reattach with the wrong start time of the init succeeded")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
