package manager

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/procview"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// viewPart gives each running zone its /proc view (package procview): the
// view server runs as a process of its own, in a cgroup of its own, so
// zones keep their view while the daemon restarts or is upgraded; the
// daemon starts it when a zone starts and none runs, and stops it a little
// after the last zone stops (viewLinger) or when it ends with none
// running. Without FUSE a zone starts with the host's /proc files, a
// warning in the log and in `zonectl show`.
type viewPart struct {
	basePart
	m *Manager

	mu sync.Mutex
	// degraded holds why a running zone has no view.
	degraded map[string]string
	// disks holds the disk quotas the view reports to statfs in zones
	// whose root filesystem does not (btrfs qgroups).
	disks map[string]*procview.DiskQuota
	// srv keeps one zone's start from telling the server about it while
	// another zone's stop finds no zone left and stops the server.
	srv sync.Mutex
	// idle stops the server when no zone has started for viewLinger
	// after the last one stopped; held under srv.
	idle *time.Timer
}

// viewLinger is how long the view server outlives the last zone: starting
// it costs a zone's start tens of milliseconds, and a host that stops its
// last zone often starts one again soon (a restart, a reinstall).
const viewLinger = 10 * time.Second

func newViewPart(m *Manager) *viewPart {
	return &viewPart{m: m, degraded: map[string]string{}, disks: map[string]*procview.DiskQuota{}}
}

func (*viewPart) partName() string { return "proc view" }

func (v *viewPart) state() string { return filepath.Join(v.m.fs.DataDir(), "procview") }

// cgroupPath is the view server's own group beside the zones' ("_" keeps
// it apart from every zone name).
func (v *viewPart) cgroupPath() string { return v.m.cfg.CgroupParent + "/_viewfs" }

// ensure starts the view server unless it serves already.
func (v *viewPart) ensure() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	_, err = procview.Start(v.state(), exe, func(pid int) error {
		cg, err := cgroups.New(v.cgroupPath(), &specs.LinuxResources{})
		if err != nil {
			return err
		}
		return cg.AddProc(pid)
	})
	return err
}

// learnDisk finds what the view tells statfs in rec's zone about its
// disk: a btrfs qgroup's counters, since btrfs's statfs reports the whole
// filesystem; the other backends' statfs reports the quota itself (an
// image is a filesystem of its own, ext4 and XFS cut statfs to a
// directory's project quota). Without the counters, df shows the pool.
func (v *viewPart) learnDisk(rec *store.ZoneRecord) {
	var disk *procview.DiskQuota
	if r := v.m.quota.reader(rec.Name); r != nil && rec.Spec != nil && rec.Spec.Annotations[diskQuotaAnnotation] == quota.BtrfsQgroup {
		// The quota part, before this one, found the counters.
		c, err := r.BtrfsCounters()
		if err != nil {
			v.m.log.Warn("df in the zone will show the pool, not the zone's quota", "zone", rec.Name, "err", err)
		} else {
			disk = &procview.DiskQuota{UsedFiles: c.Used, LimitFile: c.Limit}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if disk == nil {
		delete(v.disks, rec.Name)
	} else {
		v.disks[rec.Name] = disk
	}
}

func (v *viewPart) disk(zone string) *procview.DiskQuota {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.disks[zone]
}

func (v *viewPart) setDegraded(zone, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if why == "" {
		delete(v.degraded, zone)
	} else {
		v.degraded[zone] = why
	}
}

// warnings says what is wrong with a zone's view, for show.
func (v *viewPart) warnings(zone string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if why, ok := v.degraded[zone]; ok {
		return []string{"the zone sees the host's /proc/meminfo, cpuinfo, stat, uptime, loadavg: " + why}
	}
	return nil
}

// prestart makes sure the view serves the zone and adds its bind mounts
// and seccomp rules to this start's spec (never stored: a start without
// the view must not fail for want of their sources or its agent).
func (v *viewPart) prestart(_ context.Context, rec *store.ZoneRecord, r *revert.Reverter) error {
	v.learnDisk(rec) // runs btrfs-progs: before taking srv
	v.srv.Lock()
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
	err := v.ensure()
	if err == nil {
		err = procview.SetZone(v.state(), rec.Name, procview.Config{Cgroup: v.m.cgroupPath(rec.Name)})
	}
	v.srv.Unlock()
	if errdefs.IsNoSpace(err) {
		// A full disk is no missing kernel feature to start without:
		// the caller learns it (507) instead of a zone with stale files.
		return fmt.Errorf("tell the /proc view about the zone: %w", err)
	}
	if err != nil {
		v.m.log.Warn("zone starts without its /proc view", "zone", rec.Name, "err", err)
		v.setDegraded(rec.Name, err.Error())
		return nil
	}
	v.setDegraded(rec.Name, "")
	// A start that fails later leaves no zone for the server to serve.
	r.Add(func() { v.forget(rec.Name) })
	names := make([]string, 0, len(procview.Files))
	for n := range procview.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	spec := *rec.Spec
	spec.Mounts = append([]specs.Mount(nil), rec.Spec.Mounts...)
	if spec.Linux != nil {
		linux := *spec.Linux
		linux.Seccomp = procview.Seccomp(linux.Seccomp, v.state(), rec.Name, v.disk(rec.Name) != nil)
		spec.Linux = &linux
	}
	for _, n := range names {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: procview.Files[n],
			Source:      filepath.Join(procview.ZoneDir(v.state(), rec.Name), n),
			Type:        "bind",
			Options:     []string{"bind", "ro", "nosuid", "nodev", "noexec"},
		})
	}
	rec.Spec = &spec
	return nil
}

// execSeccomp gives commands entering a zone the view's seccomp rules
// too, while the view serves the zone.
func (v *viewPart) execSeccomp(zone string, sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
	v.mu.Lock()
	_, degraded := v.degraded[zone]
	v.mu.Unlock()
	if degraded {
		return sc
	}
	if _, err := procview.Serving(v.state()); err != nil {
		return sc
	}
	return procview.Seccomp(sc, v.state(), zone, v.disk(zone) != nil)
}

// start tells the view the zone's init, whose age is the zone's uptime.
// A failed update fails the start of a zone the view serves (its files
// would show another init's uptime), rather than a warning nobody reads
// and a 200; a zone started without the view (degraded) goes on.
func (v *viewPart) start(_ context.Context, rec *store.ZoneRecord, pid int, _ *revert.Reverter) error {
	err := v.setZone(rec.Name, pid)
	v.mu.Lock()
	_, degraded := v.degraded[rec.Name]
	v.mu.Unlock()
	if degraded && !errdefs.IsNoSpace(err) {
		return nil
	}
	return err
}

func (v *viewPart) setZone(zone string, pid int) error {
	ticks, err := procview.StartTicks(pid)
	if err == nil {
		err = procview.SetZone(v.state(), zone, procview.Config{Cgroup: v.m.cgroupPath(zone), InitPID: pid, InitStart: ticks, Disk: v.disk(zone)})
	}
	if err != nil {
		v.m.log.Warn("tell the /proc view about a zone", "zone", zone, "err", err)
		return fmt.Errorf("tell the /proc view about zone %q: %w", zone, err)
	}
	return nil
}

func (v *viewPart) stopped(rec *store.ZoneRecord) { v.forget(rec.Name) }

func (v *viewPart) destroy(rec *store.ZoneRecord) error {
	v.forget(rec.Name)
	return nil
}

// forget drops a zone from the view and stops the server when no zone is
// left, so nothing of zoned runs or stays mounted without zones.
func (v *viewPart) forget(zone string) {
	v.setDegraded(zone, "")
	v.mu.Lock()
	delete(v.disks, zone)
	v.mu.Unlock()
	v.srv.Lock()
	defer v.srv.Unlock()
	left, err := procview.RemoveZone(v.state(), zone)
	if err != nil || left > 0 || v.idle != nil {
		return
	}
	v.idle = time.AfterFunc(viewLinger, func() {
		v.srv.Lock()
		defer v.srv.Unlock()
		v.idle = nil
		if procview.Zones(v.state()) == 0 {
			v.stopServer()
		}
	})
}

// close stops a lingering server when the daemon ends with no zone
// running: nothing of zoned stays without zones.
func (v *viewPart) close() {
	v.srv.Lock()
	defer v.srv.Unlock()
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
	if procview.Zones(v.state()) == 0 {
		v.stopServer()
	}
}

func (v *viewPart) stopServer() {
	if err := procview.Stop(v.state()); err != nil {
		v.m.log.Warn("stop the /proc view", "err", err)
	}
	// As for a zone's group: kill what is left and wait for the group to
	// be empty (cgroup v2 lists the server a moment after it was reaped),
	// then remove it.
	cg, err := cgroups.Load(v.cgroupPath())
	if err != nil {
		return
	}
	if err = cg.Kill(); err == nil {
		err = cg.Delete()
	}
	if err != nil {
		v.m.log.Warn("remove the /proc view's cgroup", "err", err)
	}
}

// reconcile serves the zones that run (a view that died with the host or
// was killed comes back) and stops a view that serves none.
func (v *viewPart) reconcile(_ context.Context, recs []*store.ZoneRecord) error {
	running := 0
	for _, rec := range recs {
		if rec.State != api.StateRunning || rec.InitPID <= 0 {
			_, _ = procview.RemoveZone(v.state(), rec.Name)
			continue
		}
		running++
		v.learnDisk(rec)
		if err := v.ensure(); err != nil {
			v.m.log.Warn("zone view unavailable", "zone", rec.Name, "err", err)
			v.setDegraded(rec.Name, err.Error())
			continue
		}
		_ = v.setZone(rec.Name, rec.InitPID) // logged; reconcile goes on
	}
	if running == 0 {
		v.stopServer()
	}
	return nil
}

// zoneWarnings collects what parts say works less than asked for a zone.
func (m *Manager) zoneWarnings(zone string) []string {
	var out []string
	for _, p := range m.parts {
		if w, ok := p.(interface{ warnings(string) []string }); ok {
			out = append(out, w.warnings(zone)...)
		}
	}
	return out
}
