package procview

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
)

func TestMain(m *testing.M) {
	if state := os.Getenv(serverEnv); state != "" {
		serveForTest(state)
	}
	os.Exit(m.Run())
}

// requireRoot skips tests that need the kernel's namespaces, cgroups or
// FUSE as root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, cgroups, FUSE)")
	}
}

// testCgroup makes a cgroup of the test's own, removed (with whatever is
// left in it) when the test ends, and returns its path.
func testCgroup(t *testing.T) (string, cgroups.Group) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	path := "/zoned-test-procview-" + hex.EncodeToString(b)
	cg, err := cgroups.New(path, &specs.LinuxResources{})
	if errors.Is(err, errdefs.ErrUnsupported) {
		t.Skipf("no cgroup hierarchy: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cg.Kill()
		if err := cg.Delete(); err != nil {
			t.Errorf("remove test cgroup %s: %v", path, err)
		}
	})
	return path, cg
}

// pidnsZone starts sh as PID 1 of a new PID namespace in the cgroup cg,
// which then forks n sleeps (PIDs 2 to n+1 there), and returns sh's host
// PID once all are in the group.
func pidnsZone(t *testing.T, cgPath string, cg cgroups.Group, n int) int {
	t.Helper()
	script := "read x; i=0; while [ $i -lt " + strconv.Itoa(n) + " ]; do sleep 1000 & i=$((i+1)); done; wait"
	cmd := exec.Command("sh", "-c", script)
	// Not Pdeathsig (it fires when the forking thread ends): sh ends
	// with its stdin, in the test's cleanup or with the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no PID namespace (CONFIG_PID_NS): %v", err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := cg.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(in, "go\n")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if len(procs(tasksFile(cgPath))) == n+1 {
			return cmd.Process.Pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the test zone's %d tasks did not show in its cgroup", n+1)
	return 0
}

// tasksFile is where Snap reads the group's tasks.
func tasksFile(cgPath string) string {
	if unified() {
		return filepath.Join(cgroupRoot, cgPath, "cgroup.procs")
	}
	return filepath.Join(cgroupRoot, "pids", cgPath, "tasks")
}

// TestLastPIDIsTheZones: the last PID /proc/loadavg and /proc/stat's
// processes show is numbered in the zone's PID namespace, not the host's,
// whose PIDs would tell the zone how much the host and other zones fork.
func TestLastPIDIsTheZones(t *testing.T) {
	requireRoot(t)
	cgPath, cg := testCgroup(t)
	init := pidnsZone(t, cgPath, cg, 3)
	start, err := StartTicks(init)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Snap("z", Config{Cgroup: cgPath, InitPID: init, InitStart: start}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// sh is 1 in the zone, its three sleeps 2 to 4.
	if last := s.lastPID(); last != 4 || s.Tasks != 4 {
		t.Errorf("last PID %d of %d tasks in a zone of sh and three sleeps (init is %d on the host), want 4 of 4", last, s.Tasks, init)
	}
	data, err := Render("loadavg", s)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(data)); len(f) != 5 || f[4] != "4" {
		t.Errorf("loadavg = %q, want last PID 4", data)
	}
}
