package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
	"github.com/zoned-project/zoned/internal/revert"
)

// hybridUnified is where a hybrid host mounts its (controller-less) cgroup2
// hierarchy. systemd in a zone on such a host looks for its own group
// there as well, so a v1 zone gets one in it too.
const hybridUnified = root + "/unified"

// v1Group is a zone's group on a legacy or hybrid host: one directory per
// mounted hierarchy, name=systemd included (cgroup1.Default lists it).
type v1Group struct {
	path string
	cg   cgroup1.Cgroup
	// dirs maps a hierarchy ("memory", "systemd", "unified", ...) to the
	// group's directory in it.
	dirs map[string]string
	mu   sync.Mutex
}

type pather interface{ Path(string) string }

// v1Hierarchies returns the mounted v1 hierarchies and where path lives in
// each, plus the hybrid host's unified directory.
func v1Hierarchies(path string) ([]cgroup1.Subsystem, map[string]string, map[string]string, error) {
	subs, err := cgroup1.Default()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list cgroup v1 hierarchies: %w", err)
	}
	dirs, bases := map[string]string{}, map[string]string{}
	for _, s := range subs {
		if p, ok := s.(pather); ok {
			dirs[string(s.Name())] = p.Path(path)
			bases[string(s.Name())] = p.Path("/")
		}
	}
	var st unix.Statfs_t
	if unix.Statfs(hybridUnified, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		dirs["unified"] = filepath.Join(hybridUnified, path)
		bases["unified"] = hybridUnified
	}
	if _, ok := dirs[string(cgroup1.Memory)]; !ok {
		return nil, nil, nil, fmt.Errorf("cgroup v1 memory hierarchy is not mounted: %w", errdefs.ErrUnsupported)
	}
	return subs, dirs, bases, nil
}

func newV1(path string, res *specs.LinuxResources) (Group, error) {
	subs, dirs, bases, err := v1Hierarchies(path)
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	for _, d := range dirs {
		if _, err := os.Lstat(d); err == nil {
			return nil, fmt.Errorf("create cgroup %s: %s exists: %w", path, d, errdefs.ErrAlreadyExists)
		}
	}
	r := revert.New()
	defer r.Fail()
	for _, base := range bases {
		// Remove exactly what did not exist before, parents included.
		missing := missingDirs(base, path)
		r.Add(func() {
			for _, d := range missing {
				unix.Rmdir(d)
			}
		})
	}
	// cgroup1 makes the directories and fills cpuset.cpus and cpuset.mems
	// from the parents, so tasks can join even without a cpu pin. Limits
	// are applied by Update below, one code path for create and change.
	c, err := cgroup1.New(cgroup1.StaticPath(path), &specs.LinuxResources{},
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if d, ok := dirs["unified"]; ok {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}
	g := &v1Group{path: path, cg: c, dirs: dirs}
	if err := g.Update(res); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	if err := g.setDevices(res); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", path, err)
	}
	r.Success()
	return g, nil
}

func loadV1(path string) (Group, error) {
	subs, dirs, _, err := v1Hierarchies(path)
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", path, err)
	}
	// A group exists if any hierarchy holds it. A daemon killed while
	// New made the directories leaves some and not others (cpuset before
	// memory, say); such a group must still load, so that Kill and Delete
	// can take it away rather than New refusing the name for good.
	for h, d := range dirs {
		if _, err := os.Lstat(d); err != nil {
			delete(dirs, h)
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("load cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	c, err := cgroup1.Load(cgroup1.StaticPath(path),
		cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) { return subs, nil }))
	if err != nil {
		return nil, fmt.Errorf("load cgroup %s: %w", path, err)
	}
	return &v1Group{path: path, cg: c, dirs: dirs}, nil
}

func (g *v1Group) Path() string { return g.path }

func (g *v1Group) AddProc(pid int) error {
	if err := g.cg.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, g.path, err)
	}
	if d, ok := g.dirs["unified"]; ok {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("add process %d to cgroup %s: %w", pid, g.path, err)
		}
	}
	return nil
}

func (g *v1Group) Update(res *specs.LinuxResources) error {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, step := range []func(*specs.LinuxResources) error{g.setCpuset, g.setCPU, g.setMemory, g.setPids, g.setBlkio} {
		if err := step(res); err != nil {
			return fmt.Errorf("update cgroup %s: %w", g.path, err)
		}
	}
	return nil
}

// setCpuset pins the group, or gives it all of its parent's CPUs and
// memory nodes back when res has no pin.
func (g *v1Group) setCpuset(res *specs.LinuxResources) error {
	dir, ok := g.dirs[string(cgroup1.Cpuset)]
	if !ok {
		if res.CPU != nil && res.CPU.Cpus != "" {
			return fmt.Errorf("pin CPUs %q: cpuset hierarchy not mounted: %w", res.CPU.Cpus, errdefs.ErrUnsupported)
		}
		return nil
	}
	for _, f := range []string{"cpus", "mems"} {
		v := ""
		if res.CPU != nil {
			v = map[string]string{"cpus": res.CPU.Cpus, "mems": res.CPU.Mems}[f]
		}
		if v == "" {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "cpuset."+f))
			if err != nil {
				return fmt.Errorf("read parent's cpuset.%s: %w", f, err)
			}
			v = strings.TrimSpace(string(b))
		}
		if err := writeFile(dir, "cpuset."+f, v); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) setCPU(res *specs.LinuxResources) error {
	shares, period, quota := uint64(1024), uint64(Period), int64(-1)
	if c := res.CPU; c != nil {
		if c.Shares != nil {
			shares = *c.Shares
		}
		if c.Period != nil {
			period = *c.Period
		}
		if c.Quota != nil && *c.Quota > 0 {
			quota = *c.Quota
		}
	}
	if dir, ok := g.dirs[string(cgroup1.Cpu)]; ok {
		// Quota off first: any period is then valid, and quota is set last
		// against the new period.
		for _, w := range [][2]string{
			{"cpu.shares", strconv.FormatUint(shares, 10)},
			{"cpu.cfs_quota_us", "-1"},
			{"cpu.cfs_period_us", strconv.FormatUint(period, 10)},
			{"cpu.cfs_quota_us", strconv.FormatInt(quota, 10)},
		} {
			if err := writeFile(dir, w[0], w[1]); err != nil {
				return err
			}
		}
	} else if quota > 0 || shares != 1024 {
		return fmt.Errorf("set CPU limits: cpu hierarchy not mounted: %w", errdefs.ErrUnsupported)
	}
	return nil
}

// MemswHeadroom is what a v1 group without swap gets on top of its memory
// limit as memory+swap limit: one page. The kernel charges memory+swap
// first; with both limits equal it is memory+swap that refuses a charge,
// and recent kernels (seen on 6.18) keep no failcnt for that counter, so
// memory.failcnt stayed 0 while the zone ran into its limit. With one page of headroom
// a page's charge passes memory+swap and is refused by memory, which
// counts it. The zone may so keep one page in swap: no swap to speak of.
const MemswHeadroom = 4096

// setMemory writes memory.limit_in_bytes and memory.memsw.limit_in_bytes.
// The kernel insists that memsw >= limit at every moment, so the order
// depends on the direction: when the new limit exceeds the current memsw,
// memsw goes first, otherwise the limit does. -1 is "unlimited".
func (g *v1Group) setMemory(res *specs.LinuxResources) error {
	dir := g.dirs[string(cgroup1.Memory)]
	limit, memsw := int64(-1), int64(-1)
	if m := res.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			limit = *m.Limit
		}
		if m.Swap != nil && *m.Swap > 0 {
			memsw = *m.Swap
		}
	}
	switch {
	case limit == -1:
		// memsw may never be below the limit: no memory limit, no swap one.
		memsw = -1
	case memsw <= limit:
		// OCI's Swap is memory+swap; no more than the limit means no
		// swap, but for the headroom that lets failcnt count.
		memsw = limit + MemswHeadroom
	}
	hasMemsw := true
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); errors.Is(err, os.ErrNotExist) {
		hasMemsw = false
	}
	if !hasMemsw {
		if limit != -1 && memsw > limit+MemswHeadroom {
			return fmt.Errorf("limit swap to %d bytes: the kernel does not account swap (memory.memsw.* missing; boot with swapaccount=1): %w",
				memsw-limit, errdefs.ErrUnsupported)
		}
		return writeFile(dir, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
	}
	cur, err := readUint(dir, "memory.memsw.limit_in_bytes")
	if err != nil {
		return err
	}
	// cur == 0 is an unlimited memsw, above any limit.
	limitFirst := limit != -1 && (cur == 0 || uint64(limit) <= cur)
	writes := [][2]string{
		{"memory.limit_in_bytes", strconv.FormatInt(limit, 10)},
		{"memory.memsw.limit_in_bytes", strconv.FormatInt(memsw, 10)},
	}
	if !limitFirst {
		writes[0], writes[1] = writes[1], writes[0]
	}
	for _, w := range writes {
		if err := writeFile(dir, w[0], w[1]); err != nil {
			return err
		}
	}
	return nil
}

func (g *v1Group) setPids(res *specs.LinuxResources) error {
	v := "max"
	if p := res.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		v = strconv.FormatInt(*p.Limit, 10)
	}
	dir, ok := g.dirs[string(cgroup1.Pids)]
	if !ok {
		if v != "max" {
			return fmt.Errorf("limit pids: pids hierarchy not mounted: %w", errdefs.ErrUnsupported)
		}
		return nil
	}
	return writeFile(dir, "pids.max", v)
}

func (g *v1Group) Stats() (*Stats, error) { return statsV1(g.path, g.dirs) }

// statsV1 reads a v1 group's counters from its directories.
func statsV1(path string, dirs map[string]string) (*Stats, error) {
	var st Stats
	var err error
	read := func(dst *uint64, dir, file string) {
		if err == nil {
			*dst, err = readUint(dir, file)
		}
	}
	mem := dirs[string(cgroup1.Memory)]
	read(&st.MemoryUsage, mem, "memory.usage_in_bytes")
	read(&st.MemoryLimit, mem, "memory.limit_in_bytes")
	read(&st.MemoryFailcnt, mem, "memory.failcnt")
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", path, err)
	}
	oom, err := readKeyed(mem, "memory.oom_control")
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", path, err)
	}
	st.OOMKills = oom["oom_kill"]
	// Without swap accounting there is no memsw file: a failed read of
	// it, not a stat first, says so (one system call less per zone).
	if both, serr := readUint(mem, "memory.memsw.usage_in_bytes"); serr == nil {
		var swFail uint64
		if both > st.MemoryUsage {
			st.SwapUsage = both - st.MemoryUsage
		}
		// The kernel charges memory+swap first and memory only if that
		// succeeded, so the two fail counts are disjoint: a zone without
		// swap hits memsw's limit, not memory's.
		read(&swFail, mem, "memory.memsw.failcnt")
		st.MemoryFailcnt += swFail
	}
	if d, ok := dirs[string(cgroup1.Pids)]; ok {
		read(&st.Pids, d, "pids.current")
		read(&st.PidsLimit, d, "pids.max")
		if err == nil {
			var ev map[string]uint64
			if ev, err = readKeyed(d, "pids.events"); err == nil {
				st.PidsFailcnt = ev["max"]
			}
		}
	}
	if d, ok := dirs[string(cgroup1.Cpuacct)]; ok {
		read(&st.CPUUsageNanos, d, "cpuacct.usage")
	}
	if d, ok := dirs[string(cgroup1.Cpu)]; ok && err == nil {
		var cs map[string]uint64
		if cs, err = readKeyed(d, "cpu.stat"); err == nil {
			st.ThrottledNanos, st.ThrottledPeriods = cs["throttled_time"], cs["nr_throttled"]
		}
	}
	if d, ok := dirs["blkio"]; ok && err == nil {
		err = blkioStats(d, &st)
	}
	if err != nil {
		return nil, fmt.Errorf("stats of cgroup %s: %w", path, err)
	}
	return &st, nil
}

// procsDir is the hierarchy whose cgroup.procs (recursively) Procs reads;
// every process of the zone is in the group in every hierarchy, and the
// freezer is the one Kill works through.
func (g *v1Group) procsDir() string {
	for _, n := range []string{string(cgroup1.Freezer), string(cgroup1.Pids), string(cgroup1.Memory)} {
		if d, ok := g.dirs[n]; ok {
			return d
		}
	}
	// A partial group (see loadV1) may lack all three: any of its
	// hierarchies lists its processes.
	for _, d := range g.dirs {
		return d
	}
	return ""
}

func (g *v1Group) Procs() ([]int, error) {
	return readProcs(g.procsDir())
}

func (g *v1Group) Freeze() error {
	if err := g.cg.Freeze(); err != nil {
		return fmt.Errorf("freeze cgroup %s: %w", g.path, err)
	}
	return nil
}

func (g *v1Group) Thaw() error {
	if err := g.cg.Thaw(); err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", g.path, err)
	}
	return nil
}

// Kill freezes the group so nothing in it can fork while the list of
// processes is taken, sends each SIGKILL, and thaws it so they can die.
func (g *v1Group) Kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	frozen := g.cg.Freeze() == nil
	pids, err := g.Procs()
	if err == nil {
		for _, pid := range pids {
			// ESRCH: it died on its own meanwhile.
			if kerr := unix.Kill(pid, unix.SIGKILL); kerr != nil && !errors.Is(kerr, unix.ESRCH) {
				err = fmt.Errorf("kill process %d: %w", pid, kerr)
			}
		}
	}
	if frozen {
		if terr := g.cg.Thaw(); terr != nil && err == nil {
			err = terr
		}
	}
	if err != nil {
		return fmt.Errorf("kill cgroup %s: %w", g.path, err)
	}
	// Without a freezer a process may have forked meanwhile: keep killing.
	return waitEmpty(g.path, func() ([]int, error) {
		pids, err := g.Procs()
		if !frozen {
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		return pids, err
	})
}

func (g *v1Group) Delete() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	pids, err := g.Procs()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete cgroup %s: %w", g.path, err)
	}
	if len(pids) > 0 {
		return busyError(g.path, pids)
	}
	var errs []error
	for _, d := range g.dirs {
		kfile.Forget(d)
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete cgroup %s: %w", g.path, err)
	}
	return nil
}

// setDevices writes the device policy into the devices controller. It runs
// once, at creation, before any process joins: the kernel refuses a
// blanket deny on a group that has children, and the policy does not
// change over a zone's life.
func (g *v1Group) setDevices(res *specs.LinuxResources) error {
	if len(res.Devices) == 0 {
		return nil
	}
	dir, ok := g.dirs[string(cgroup1.Devices)]
	if !ok {
		return fmt.Errorf("device policy: devices hierarchy not mounted: %w", errdefs.ErrUnsupported)
	}
	for _, d := range res.Devices {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, deviceRule(d)); err != nil {
			return fmt.Errorf("device policy: %w", err)
		}
	}
	return nil
}

// deviceRule renders a rule as the v1 devices controller reads it:
// "c 1:3 rwm", "a *:* rwm".
func deviceRule(d specs.LinuxDeviceCgroup) string {
	num := func(p *int64) string {
		if p == nil || *p < 0 {
			return "*"
		}
		return strconv.FormatInt(*p, 10)
	}
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), d.Access)
}
