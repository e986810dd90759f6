package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
	"github.com/zoned-project/zoned/internal/revert"
)

// v2Controllers are the controllers a zone's group gets, when the host
// offers them.
var v2Controllers = []string{"cpuset", "cpu", "io", "memory", "pids"}

// v2Group is a zone's group in the unified hierarchy.
type v2Group struct {
	path string
	dir  string
	m    *cgroup2.Manager
	mu   sync.Mutex
}

func newV2(path string, res *specs.LinuxResources) (Group, error) {
	dir := filepath.Join(root, path)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("create cgroup %s: %s exists: %w", path, dir, errdefs.ErrAlreadyExists)
	}
	r := revert.New()
	defer r.Fail()
	missing := missingDirs(root, path)
	r.Add(func() {
		for _, d := range missing {
			unix.Rmdir(d)
		}
	})
	m, err := cgroup2.NewManager(root, path, &cgroup2.Resources{})
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	// Enable the controllers in every ancestor's subtree_control, so the
	// zone's group has their files; only those the root offers.
	avail, err := m.RootControllers()
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: read root controllers: %w", path, err)
	}
	var want []string
	for _, c := range v2Controllers {
		if slices.Contains(avail, c) {
			want = append(want, c)
		}
	}
	if !slices.Contains(want, "memory") {
		return nil, fmt.Errorf("create cgroup %s: the memory controller is not available in %s: %w", path, root, errdefs.ErrUnsupported)
	}
	if err := m.ToggleControllers(want, cgroup2.Enable); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	g := &v2Group{path: path, dir: dir, m: m}
	if err := g.Update(res); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if err := g.setDevices(res); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	r.Success()
	return g, nil
}

func loadV2(path string) (Group, error) {
	dir := filepath.Join(root, path)
	if _, err := os.Lstat(dir); err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	m, err := cgroup2.Load(path, cgroup2.WithMountpoint(root))
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", path, err)
	}
	return &v2Group{path: path, dir: dir, m: m}, nil
}

func (g *v2Group) Path() string { return g.path }

func (g *v2Group) AddProc(pid int) error {
	if err := g.m.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, g.path, err)
	}
	return nil
}

// has reports whether the group has a control file (its controller is
// enabled for it).
func (g *v2Group) has(file string) bool {
	_, err := os.Stat(filepath.Join(g.dir, file))
	return err == nil
}

func (g *v2Group) Update(res *specs.LinuxResources) error {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.update(res); err != nil {
		return fmt.Errorf("update cgroup %s: %w", g.path, err)
	}
	return nil
}

func (g *v2Group) update(res *specs.LinuxResources) error {
	type write struct{ file, value string }
	var ws []write
	unsupported := func(what, file string) error {
		return fmt.Errorf("%s: %s missing (controller not enabled): %w", what, file, errdefs.ErrUnsupported)
	}

	// CPU: exact weight from Unified when ToSpec put it there, else shares
	// converted; quota "max" when unset.
	weight, cpuMax, cpus, mems := "100", "max "+strconv.Itoa(Period), "", ""
	if c := res.CPU; c != nil {
		if c.Shares != nil && *c.Shares > 0 {
			weight = strconv.FormatUint(sharesToWeight(*c.Shares), 10)
		}
		period := uint64(Period)
		if c.Period != nil && *c.Period > 0 {
			period = *c.Period
		}
		if c.Quota != nil && *c.Quota > 0 {
			cpuMax = fmt.Sprintf("%d %d", *c.Quota, period)
		} else {
			cpuMax = fmt.Sprintf("max %d", period)
		}
		cpus, mems = c.Cpus, c.Mems
	}
	if w, ok := res.Unified[UnifiedCPUWeight]; ok {
		weight = w
	}
	if g.has("cpu.max") {
		ws = append(ws, write{"cpu.weight", weight}, write{"cpu.max", cpuMax})
	} else if weight != "100" || !strings.HasPrefix(cpuMax, "max") {
		return unsupported("set CPU limits", "cpu.max")
	}
	// An empty cpuset.cpus means "all of the parent's": no pin.
	if g.has("cpuset.cpus") {
		ws = append(ws, write{"cpuset.cpus", cpus}, write{"cpuset.mems", mems})
	} else if cpus != "" || mems != "" {
		return unsupported("pin CPUs", "cpuset.cpus")
	}

	// Memory: memory.max, and memory.swap.max is swap alone (OCI's Swap is
	// memory+swap). No memory limit means no swap limit either. The two
	// files are independent in v2, so their order does not matter.
	memMax, swapMax := "max", "max"
	if m := res.Memory; m != nil && m.Limit != nil && *m.Limit > 0 {
		memMax = strconv.FormatInt(*m.Limit, 10)
		swap := int64(0)
		if m.Swap != nil && *m.Swap > *m.Limit {
			swap = *m.Swap - *m.Limit
		}
		swapMax = strconv.FormatInt(swap, 10)
	}
	ws = append(ws, write{"memory.max", memMax})
	if g.has("memory.swap.max") {
		ws = append(ws, write{"memory.swap.max", swapMax})
	} else if swapMax != "max" && swapMax != "0" {
		return fmt.Errorf("limit swap to %s bytes: the kernel does not account swap (memory.swap.max missing): %w", swapMax, errdefs.ErrUnsupported)
	}

	pidsMax := "max"
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		pidsMax = strconv.FormatInt(*p.Limit, 10)
	}
	if g.has("pids.max") {
		ws = append(ws, write{"pids.max", pidsMax})
	} else if pidsMax != "max" {
		return unsupported("limit pids", "pids.max")
	}

	if err := g.setIO(res); err != nil {
		return err
	}
	for _, w := range ws {
		if w.value == "" {
			// A zero-byte write never reaches the kernel; a newline is
			// how an empty cpuset list is written.
			w.value = "\n"
		}
		if err := writeFile(g.dir, w.file, w.value); err != nil {
			return err
		}
	}
	return nil
}

func (g *v2Group) Stats() (*Stats, error) { return statsV2(g.path, g.dir) }

// statsV2 reads a v2 group's counters from its directory.
func statsV2(path, dir string) (*Stats, error) {
	var st Stats
	var err error
	read := func(dst *uint64, file string) {
		if err == nil {
			*dst, err = readUint(dir, file)
		}
	}
	keyed := func(file string) map[string]uint64 {
		if err != nil {
			return nil
		}
		var m map[string]uint64
		m, err = readKeyed(dir, file)
		return m
	}
	read(&st.MemoryUsage, "memory.current")
	read(&st.MemoryLimit, "memory.max")
	ev := keyed("memory.events")
	// "max" counts the times usage hit memory.max: v1's failcnt.
	st.MemoryFailcnt, st.OOMKills = ev["max"], ev["oom_kill"]
	// Optional controllers' files: a failed read says they are off.
	if v, e := readUint(dir, "memory.swap.current"); e == nil {
		st.SwapUsage = v
	}
	if v, e := readUint(dir, "pids.current"); e == nil {
		st.Pids = v
		read(&st.PidsLimit, "pids.max")
		st.PidsFailcnt = keyed("pids.events")["max"]
	}
	cs := keyed("cpu.stat") // always present: the core accounts CPU time
	st.CPUUsageNanos, st.ThrottledNanos, st.ThrottledPeriods = cs["usage_usec"]*1000, cs["throttled_usec"]*1000, cs["nr_throttled"]
	if err == nil {
		if e := ioStatV2(dir, &st); e != nil && !kfile.IsNotExist(e) {
			err = e
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", path, err)
	}
	return &st, nil
}

func (g *v2Group) Procs() ([]int, error) {
	return readProcs(g.dir)
}

// Freeze asks the kernel to freeze the group and waits until
// cgroup.events reports it frozen: only then has every task stopped.
func (g *v2Group) Freeze() error {
	if err := g.setFrozen(true); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", g.path, err)
	}
	return nil
}

func (g *v2Group) Thaw() error {
	if err := g.setFrozen(false); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", g.path, err)
	}
	return nil
}

func (g *v2Group) setFrozen(frozen bool) error {
	want := map[bool]uint64{false: 0, true: 1}[frozen]
	if err := writeFile(g.dir, "cgroup.freeze", strconv.FormatUint(want, 10)); err != nil {
		return err
	}
	deadline := time.Now().Add(killTimeout)
	for {
		ev, err := readKeyed(g.dir, "cgroup.events")
		if err != nil {
			return err
		}
		if ev["frozen"] == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup.events still says frozen %d after %v: %w", ev["frozen"], killTimeout, errdefs.ErrUnavailable)
		}
		time.Sleep(time.Millisecond)
	}
}

// Kill writes cgroup.kill (5.14+), which kills the whole subtree and
// cannot race with forks; the library falls back to freeze, kill, thaw on
// older kernels.
func (g *v2Group) Kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.m.Kill(); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", g.path, err)
	}
	return waitEmpty(g.path, g.Procs)
}

func (g *v2Group) Delete() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	pids, err := g.Procs()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete cgroup %s: %w", g.path, err)
	}
	if len(pids) > 0 {
		return busyError(g.path, pids)
	}
	kfile.Forget(g.dir)
	if err := removeTree(g.dir); err != nil {
		return fmt.Errorf("delete cgroup %s: %w", g.path, err)
	}
	return nil
}

// setDevices attaches the device policy as an eBPF program, cgroup v2's
// device controller. It runs once, at creation: each attach adds a program
// and the policy does not change over a zone's life.
func (g *v2Group) setDevices(res *specs.LinuxResources) error {
	if len(res.Devices) == 0 {
		return nil
	}
	insts, license, err := cgroup2.DeviceFilter(res.Devices)
	if err != nil {
		return fmt.Errorf("device policy: %w", err)
	}
	fd, err := unix.Open(g.dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device policy: %w", err)
	}
	defer unix.Close(fd)
	if _, err := cgroup2.LoadAttachCgroupDeviceFilter(insts, license, fd); err != nil {
		return fmt.Errorf("device policy: attach eBPF device filter: %w", err)
	}
	return nil
}
