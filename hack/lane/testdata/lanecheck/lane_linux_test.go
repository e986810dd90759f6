package lanecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inLane skips the test outside the stock-kernel lane, whose guest sets
// ZONED_LANE=1.
func inLane(t *testing.T) {
	t.Helper()
	if os.Getenv("ZONED_LANE") != "1" {
		t.Skip("needs the stock-kernel lane (ZONED_LANE=1): run through hack/lane/lane gotest")
	}
}

func TestLaneEnvironment(t *testing.T) {
	inLane(t)
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("statfs /sys/fs/cgroup: %v", err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("/sys/fs/cgroup is filesystem type %#x, want cgroup2 (%#x)", st.Type, unix.CGROUP2_SUPER_MAGIC)
	}
	// The host mode hands every controller down from the root; under
	// systemd (--mode systemd) PID 1 decides, so there only check that the
	// kernel offers them.
	file := "cgroup.subtree_control"
	if os.Getenv("ZONED_LANE_MODE") == "systemd" {
		file = "cgroup.controllers"
	}
	sc, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", file))
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	for _, c := range []string{"cpuset", "cpu", "io", "memory", "pids"} {
		if !strings.Contains(" "+strings.TrimSpace(string(sc))+" ", " "+c+" ") {
			t.Errorf("controller %s missing from the root's %s %q", c, file, sc)
		}
	}

	// A cgroup of our own takes a limit and goes away again.
	cg := "/sys/fs/cgroup/zoned-test-lanecheck"
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cg); err != nil && !os.IsNotExist(err) {
			t.Errorf("remove cgroup %s: %v", cg, err)
		}
		if _, err := os.Stat(cg); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind", cg)
		}
	})
	if err := os.WriteFile(filepath.Join(cg, "pids.max"), []byte("17"), 0o644); err != nil {
		t.Fatalf("set pids.max: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(cg, "pids.max"))
	if err != nil || strings.TrimSpace(string(got)) != "17" {
		t.Fatalf("pids.max reads %q (%v), want 17", got, err)
	}
}

// TestLaneFailsOnRequest fails when LANECHECK_FAIL=1 is passed into the
// guest, so the selftest can check that a failure inside fails the lane.
func TestLaneFailsOnRequest(t *testing.T) {
	inLane(t)
	if os.Getenv("LANECHECK_FAIL") != "1" {
		t.Skip("LANECHECK_FAIL is not 1")
	}
	t.Fatal("failing on request (LANECHECK_FAIL=1)")
}
