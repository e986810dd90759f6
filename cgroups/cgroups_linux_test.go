package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// requireCgroups skips unless the test runs as root on a host with cgroups.
func requireCgroups(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create cgroups")
	}
	if Mode() == "" {
		t.Skip("needs a mounted cgroup hierarchy at /sys/fs/cgroup")
	}
}

// testParent returns a fresh "/zoned-test-<random>" parent and, at the end
// of the test, removes it from every hierarchy and checks nothing is left.
func testParent(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	parent := "/zoned-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		dirs := leftovers(parent)
		for _, d := range dirs {
			if err := removeTree(d); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if left := leftovers(parent); len(left) > 0 {
			t.Errorf("cgroup directories left behind: %v", left)
		}
	})
	return parent
}

// leftovers lists parent's directories in every hierarchy: v2 root, v1
// controllers, the hybrid unified one.
func leftovers(parent string) []string {
	var out []string
	for _, pat := range []string{root + parent, root + "/*" + parent} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	return out
}

// kfile is where the kernel keeps a control file of path: in hierarchy h on
// v1, in the unified tree on v2.
func kpath(path, h, file string) string {
	if Mode() == "v2" {
		return filepath.Join(root, path, file)
	}
	return filepath.Join(root, h, path, file)
}

func readK(t *testing.T, path, h, file string) string {
	t.Helper()
	b, err := os.ReadFile(kpath(path, h, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func memswPresent(path string) bool {
	_, err := os.Stat(kpath(path, "memory", "memory.memsw.limit_in_bytes"))
	return err == nil
}

// checkKernel compares the kernel's files with what r asks for.
func checkKernel(t *testing.T, path string, r api.Resources) {
	t.Helper()
	check := func(h, file, want string) {
		t.Helper()
		if got := readK(t, path, h, file); got != want {
			t.Errorf("%s = %q, want %q", kpath(path, h, file), got, want)
		}
	}
	const v1Unlimited = "9223372036854771712"
	if Mode() == "v2" {
		mem, swap := "max", "max"
		if r.MemoryBytes > 0 {
			mem, swap = strconv.FormatInt(r.MemoryBytes, 10), strconv.FormatInt(r.SwapBytes, 10)
		}
		check("", "memory.max", mem)
		if _, err := os.Stat(kpath(path, "", "memory.swap.max")); err == nil {
			check("", "memory.swap.max", swap)
		}
		quota := "max"
		if r.CPULimitPercent > 0 {
			quota = strconv.FormatInt(r.CPULimitPercent*1000, 10)
		}
		check("", "cpu.max", quota+" 100000")
		weight := uint64(100)
		if r.CPUWeight > 0 {
			weight = r.CPUWeight
		}
		check("", "cpu.weight", strconv.FormatUint(weight, 10))
		check("", "cpuset.cpus", r.CPUs)
	} else {
		mem, memsw := v1Unlimited, v1Unlimited
		if r.MemoryBytes > 0 {
			mem, memsw = strconv.FormatInt(r.MemoryBytes, 10), strconv.FormatInt(r.MemoryBytes+r.SwapBytes, 10)
			if r.SwapBytes == 0 {
				memsw = strconv.FormatInt(r.MemoryBytes+MemswHeadroom, 10)
			}
		}
		check("memory", "memory.limit_in_bytes", mem)
		if memswPresent(path) {
			check("memory", "memory.memsw.limit_in_bytes", memsw)
		}
		quota := "-1"
		if r.CPULimitPercent > 0 {
			quota = strconv.FormatInt(r.CPULimitPercent*1000, 10)
		}
		check("cpu", "cpu.cfs_quota_us", quota)
		check("cpu", "cpu.cfs_period_us", "100000")
		shares := uint64(1024)
		if r.CPUWeight > 0 {
			shares = WeightToShares(r.CPUWeight)
		}
		check("cpu", "cpu.shares", strconv.FormatUint(shares, 10))
		cpus := r.CPUs
		if cpus == "" {
			cpus = readK(t, filepath.Dir(path), "cpuset", "cpuset.cpus")
		}
		check("cpuset", "cpuset.cpus", cpus)
	}
	pids := "max"
	if r.PidsMax > 0 {
		pids = strconv.FormatInt(r.PidsMax, 10)
	}
	check("pids", "pids.max", pids)
}

func TestLimitsReachTheKernel(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/limits"
	plan := api.Resources{MemoryBytes: 64 << 20, CPULimitPercent: 50, CPUs: "0", CPUWeight: 200, PidsMax: 50}
	g, err := New(path, ToSpec(plan))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	t.Logf("mode %s", Mode())
	checkKernel(t, path, plan)

	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.MemoryLimit != 64<<20 || st.PidsLimit != 50 {
		t.Errorf("Stats limits = memory %d, pids %d", st.MemoryLimit, st.PidsLimit)
	}

	// Live changes: raise memory (with swap where the kernel accounts it),
	// then lower it below the old limit, then remove every limit.
	swap := int64(0)
	if Mode() == "v1" && memswPresent(path) || Mode() == "v2" {
		swap = 32 << 20
	}
	for _, r := range []api.Resources{
		{MemoryBytes: 256 << 20, SwapBytes: swap, CPULimitPercent: 150, CPUWeight: 1, PidsMax: 10},
		{MemoryBytes: 32 << 20, CPUs: "0-1", PidsMax: 5},
		{},
	} {
		if err := g.Update(ToSpec(r)); err != nil {
			t.Fatalf("Update(%+v): %v", r, err)
		}
		checkKernel(t, path, r)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
}

// startInGroup runs script under sh inside g: the shell waits on stdin
// until it is in the group, so everything it starts is counted there.
func startInGroup(t *testing.T, g Group, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read go; "+script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	return cmd
}

func TestProcsFreezeKillDelete(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/procs"
	g, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := startInGroup(t, g, "sleep 1000 & exec sleep 1000")
	pid := cmd.Process.Pid

	var pids []int
	for len(pids) < 2 { // the background sleep is forked asynchronously
		if pids, err = g.Procs(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Contains(pids, pid) {
		t.Errorf("Procs = %v, missing %d", pids, pid)
	}
	if Mode() == "v1" {
		// In every hierarchy, name=systemd included.
		for _, h := range []string{"memory", "systemd", "pids", "freezer", "cpu"} {
			if !strings.Contains(readK(t, path, h, "cgroup.procs"), strconv.Itoa(pid)) {
				t.Errorf("process %d not in the %s hierarchy", pid, h)
			}
		}
	}

	if err := g.Freeze(); err != nil {
		t.Fatal(err)
	}
	if Mode() == "v2" {
		if !strings.Contains(readK(t, path, "", "cgroup.events"), "frozen 1") {
			t.Error("cgroup.events does not say frozen after Freeze")
		}
	} else if s := readK(t, path, "freezer", "freezer.state"); s != "FROZEN" {
		t.Errorf("freezer.state = %s after Freeze", s)
	}
	if err := g.Thaw(); err != nil {
		t.Fatal(err)
	}
	if Mode() == "v1" {
		if s := readK(t, path, "freezer", "freezer.state"); s != "THAWED" {
			t.Errorf("freezer.state = %s after Thaw", s)
		}
	}

	if err := g.Delete(); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Delete of a busy group: %v, want ErrConflict", err)
	}

	// A child group, as systemd in a zone makes, must not stop Delete.
	var child string
	if Mode() == "v2" {
		child = kpath(path, "", "init.scope")
	} else {
		child = kpath(path, "systemd", "init.scope")
	}
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}

	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", err)
	}
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("Procs after Kill = %v, %v", pids, err)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range leftovers(path) {
		t.Errorf("%s left after Delete", d)
	}
	if _, err := Load(path); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
}

func TestMemoryLimitKills(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/oom"
	g, err := New(path, ToSpec(api.Resources{MemoryBytes: 32 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	// tail keeps the whole newline-free input in memory: 200 MiB wanted.
	cmd := startInGroup(t, g, "head -c 200M /dev/zero | tail")
	if err := cmd.Wait(); err == nil {
		t.Fatal("allocating 200 MiB under a 32 MiB limit succeeded")
	}
	st, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.OOMKills < 1 {
		t.Errorf("OOMKills = %d, want >= 1", st.OOMKills)
	}
	// v2: memory.events max; v1: memory.failcnt, which counts with the
	// memsw headroom (MemswHeadroom) on kernels that keep no memsw
	// failcnt too.
	if st.MemoryFailcnt < 1 {
		t.Errorf("MemoryFailcnt = %d, want >= 1", st.MemoryFailcnt)
	}
}

func TestPidsLimitRefusesForks(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/pids"
	g, err := New(path, ToSpec(api.Resources{PidsMax: 4}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	cmd := startInGroup(t, g, "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; wait")
	// Wait until the shell has run into the limit; bounded, not timed.
	var st *Stats
	for i := 0; i < 500; i++ {
		if st, err = g.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.PidsFailcnt > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("stats: %+v", st)
	if st.PidsFailcnt == 0 {
		t.Error("PidsFailcnt stayed 0 with 9 tasks wanted under pids.max 4")
	}
	if st.Pids > 4 {
		t.Errorf("%d tasks under pids.max 4", st.Pids)
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRollsBack(t *testing.T) {
	requireCgroups(t)
	parent := testParent(t)
	// CPU 4095 exists nowhere: the kernel refuses it after the directories
	// are made, and New must take them away again, parent included.
	_, err := New(parent+"/bad", ToSpec(api.Resources{CPUs: "4095"}))
	if err == nil {
		t.Fatal("New with CPU 4095 succeeded")
	}
	t.Logf("New: %v", err)
	if left := leftovers(parent); len(left) > 0 {
		t.Errorf("failed New left %v", left)
	}
}

func TestNewExistingAndLoad(t *testing.T) {
	requireCgroups(t)
	path := testParent(t) + "/dup"
	if _, err := Load(path); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Load of a missing group: %v, want ErrNotFound", err)
	}
	g, err := New(path, ToSpec(api.Resources{PidsMax: 7}))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	if _, err := New(path, nil); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second New: %v, want ErrAlreadyExists", err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := l.Stats(); err != nil || st.PidsLimit != 7 {
		t.Errorf("loaded group's stats: %+v, %v", st, err)
	}
	for _, bad := range []string{"relative", "/", "/a/../b", ""} {
		if _, err := New(bad, nil); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("New(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func kernelRelease() string {
	var u syscall.Utsname
	syscall.Uname(&u)
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// RemoveEmpty takes a parent away from every hierarchy only once it holds
// no group, and never a child with it.
func TestRemoveEmptyKeepsChildren(t *testing.T) {
	requireCgroups(t)
	parent := testParent(t)
	child, err := New(parent+"/child", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := leftovers(parent)
	if err := RemoveEmpty(parent); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("RemoveEmpty of a parent with a child: %v, want a conflict", err)
	}
	if after := leftovers(parent); len(after) != len(before) || len(before) == 0 {
		t.Fatalf("RemoveEmpty of a busy parent changed %v into %v", before, after)
	}
	if _, err := Load(parent + "/child"); err != nil {
		t.Fatalf("child gone: %v", err)
	}
	if err := child.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := RemoveEmpty(parent); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(parent); len(left) > 0 {
		t.Errorf("RemoveEmpty left %v", left)
	}
	if err := RemoveEmpty(parent); err != nil {
		t.Errorf("RemoveEmpty of a removed group: %v", err)
	}
}

// A daemon killed while New made a v1 group's directories leaves it in
// some hierarchies and not others. Load must still find it, Delete take
// every part away, and New then make the name afresh: otherwise the zone
// could never start again (#15).
func TestPartialV1GroupLoadsAndDeletes(t *testing.T) {
	requireCgroups(t)
	if Mode() != "v1" {
		t.Skip("partial groups exist only on v1 hosts, where a group is one directory per hierarchy; v2 makes one directory at once")
	}
	path := testParent(t) + "/partial"
	_, dirs, _, err := v1Hierarchies(path)
	if err != nil {
		t.Fatal(err)
	}
	// What cgroup1.New had made when the kill came: the first hierarchies
	// it walks, never memory.
	var made []string
	for _, h := range []string{"cpuset", "freezer", "pids", "systemd"} {
		if d, ok := dirs[h]; ok {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			made = append(made, d)
		}
	}
	if len(made) == 0 {
		t.Skip("none of the cpuset, freezer, pids or name=systemd hierarchies is mounted")
	}
	if _, err := New(path, nil); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("New over a partial group: %v, want ErrAlreadyExists", err)
	}
	g, err := Load(path)
	if err != nil {
		t.Fatalf("Load of a partial group: %v", err)
	}
	if pids, err := g.Procs(); err != nil || len(pids) != 0 {
		t.Errorf("partial group's processes: %v, %v; want none", pids, err)
	}
	if err := g.Kill(); err != nil {
		t.Errorf("Kill of a partial group: %v", err)
	}
	if err := g.Delete(); err != nil {
		t.Fatalf("Delete of a partial group: %v", err)
	}
	for _, d := range made {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Delete (%v)", d, err)
		}
	}
	g, err = New(path, nil)
	if err != nil {
		t.Fatalf("New after the partial group was deleted: %v", err)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
}
