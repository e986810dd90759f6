package manager

import (
	"context"
	"errors"
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
	"github.com/zoned-project/zoned/manager/part"
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
	part.Base
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
	// watched is the server being watched (see watch), 0 for none; a
	// server stopped on purpose is no longer watched. closed says the
	// daemon ends: a server that dies then is not replaced. Both are
	// held under srv.
	watched int
	closed  bool
	// stopWatch ends the watch of the current server.
	stopWatch chan struct{}
	// deaths counts the servers that died; revived the ones replaced.
	deaths, revived int
}

// viewLinger is how long the view server outlives the last zone: starting
// it costs a zone's start tens of milliseconds, and a host that stops its
// last zone often starts one again soon (a restart, a reinstall).
const viewLinger = 10 * time.Second

func newViewPart(m *Manager) *viewPart {
	return &viewPart{m: m, degraded: map[string]string{}, disks: map[string]*procview.DiskQuota{}}
}

func (*viewPart) Name() string { return "proc view" }

func (v *viewPart) state() string { return filepath.Join(v.m.fs.DataDir(), "procview") }

// cgroupPath is the view server's own group beside the zones' ("_" keeps
// it apart from every zone name).
func (v *viewPart) cgroupPath() string { return v.m.cfg.CgroupParent + "/_viewfs" }

// ensure starts the view server unless it serves already, and watches
// it; started says it had to be started (zones bound to an earlier
// server's mount need reattach). Called under srv.
func (v *viewPart) ensure() (started bool, err error) {
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	if _, err := procview.Serving(v.state()); err != nil {
		// What is left of a server that does not serve (killed, or
		// alive with its mount gone) goes: the new one gets the group.
		if cg, err := cgroups.Load(v.cgroupPath()); err == nil {
			if err := cg.Kill(); err != nil {
				v.m.log.Warn("empty the /proc view's stale cgroup", "err", err)
			}
		}
	}
	pid, started, err := procview.Start(v.state(), exe, func(pid int) error {
		// A server that died leaves its group: it is reused.
		cg, err := cgroups.Load(v.cgroupPath())
		if errors.Is(err, errdefs.ErrNotFound) {
			cg, err = cgroups.New(v.cgroupPath(), &specs.LinuxResources{})
		}
		if err != nil {
			return err
		}
		return cg.AddProc(pid)
	})
	if err != nil {
		return false, err
	}
	if pid != v.watched {
		v.watch(pid)
	}
	return started, nil
}

// watch notices when the server pid ends (a pidfd: it need not be this
// daemon's child, as one started by an earlier daemon is not) and
// replaces it. Called under srv.
func (v *viewPart) watch(pid int) {
	if v.stopWatch != nil {
		close(v.stopWatch)
	}
	stop := make(chan struct{})
	died, err := procview.WatchServer(pid, stop)
	if err != nil {
		v.m.log.Warn("the /proc view server is not watched: should it die, zones lose their view until the daemon restarts", "err", err)
		v.watched, v.stopWatch = 0, nil
		return
	}
	v.watched, v.stopWatch = pid, stop
	go func() {
		select {
		case <-died:
			v.died(pid)
		case <-stop:
		}
	}()
}

// died replaces the server pid, which ended without being asked to, and
// re-attaches the running zones to the new one: their view files are
// bind mounts of the dead server's mount, which answers "Transport
// endpoint is not connected" until replaced. A server that keeps dying is
// started again less and less often.
func (v *viewPart) died(pid int) {
	v.srv.Lock()
	defer v.srv.Unlock()
	if v.watched != pid || v.closed {
		return
	}
	v.watched, v.stopWatch = 0, nil
	v.deaths++
	served := len(procview.Served(v.state()))
	v.m.log.Error("the /proc view server died", "pid", pid, "zones", served)
	if served == 0 {
		v.stopServer()
		v.m.emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died; no zone ran, so none was started", pid))
		return
	}
	for try := 0; ; try++ {
		err := v.revive()
		if err == nil {
			break
		}
		wait := min(time.Second<<try, 30*time.Second)
		v.m.log.Error("restart the /proc view server", "err", err, "retry_in", wait)
		v.m.emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died and could not be restarted: %v", pid, err))
		v.srv.Unlock()
		time.Sleep(wait)
		v.srv.Lock()
		if v.closed || v.watched != 0 || len(procview.Served(v.state())) == 0 {
			return
		}
	}
	v.revived++
	v.m.log.Info("the /proc view server was restarted", "dead_pid", pid, "pid", v.watched)
	v.m.emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died; restarted as pid %d and its zones re-attached", pid, v.watched))
}

// revive starts a server and re-attaches every running zone. Called
// under srv.
func (v *viewPart) revive() error {
	if _, err := v.ensure(); err != nil {
		return err
	}
	v.reattachAll()
	return nil
}

// reattachAll points every served zone's view files at the serving
// mount. A zone that cannot be re-attached keeps its dead files and a
// warning in show. Called under srv.
func (v *viewPart) reattachAll() {
	for _, z := range procview.Served(v.state()) {
		if z.InitPID <= 0 {
			continue // not started yet: its init binds the new mount
		}
		if err := procview.Reattach(v.state(), z.Name, z.InitPID, z.InitStart); err != nil {
			v.m.log.Warn("zone keeps a dead /proc view", "zone", z.Name, "err", err)
			v.setDegraded(z.Name, "the view server died and the zone could not be re-attached: "+err.Error())
			continue
		}
		v.setDegraded(z.Name, "")
	}
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
func (v *viewPart) Warnings(zone string) []string {
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
func (v *viewPart) Prestart(_ context.Context, rec *store.ZoneRecord, r *revert.Reverter) error {
	v.learnDisk(rec) // runs btrfs-progs: before taking srv
	v.srv.Lock()
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
	started, err := v.ensure()
	if err == nil && started {
		// A server that died unnoticed (no watch) left zones bound to
		// its mount.
		v.reattachAll()
	}
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
func (v *viewPart) ExecSeccomp(zone string, sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
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
func (v *viewPart) Start(_ context.Context, rec *store.ZoneRecord, pid int, _ *revert.Reverter) error {
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

func (v *viewPart) Stopped(rec *store.ZoneRecord) { v.forget(rec.Name) }

func (v *viewPart) Destroy(rec *store.ZoneRecord) error {
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
func (v *viewPart) Close() {
	v.srv.Lock()
	defer v.srv.Unlock()
	v.closed = true
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
	if procview.Zones(v.state()) == 0 {
		v.stopServer()
	}
	v.unwatch()
}

// unwatch ends the watch of the server: it is stopped on purpose, or the
// daemon ends (a server that dies while no daemon runs is replaced by
// the next one). Called under srv.
func (v *viewPart) unwatch() {
	if v.stopWatch != nil {
		close(v.stopWatch)
	}
	v.watched, v.stopWatch = 0, nil
}

// stopServer stops the server and removes its group. Called under srv.
func (v *viewPart) stopServer() {
	v.unwatch()
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
func (v *viewPart) Reconcile(_ context.Context, recs []*store.ZoneRecord) error {
	running, started := 0, false
	for _, rec := range recs {
		if rec.State != api.StateRunning || rec.InitPID <= 0 {
			_, _ = procview.RemoveZone(v.state(), rec.Name)
			continue
		}
		running++
		v.learnDisk(rec)
		v.srv.Lock()
		s, err := v.ensure()
		v.srv.Unlock()
		if err != nil {
			v.m.log.Warn("zone view unavailable", "zone", rec.Name, "err", err)
			v.setDegraded(rec.Name, err.Error())
			continue
		}
		started = started || s
		_ = v.setZone(rec.Name, rec.InitPID) // logged; reconcile goes on
	}
	v.srv.Lock()
	defer v.srv.Unlock()
	if running == 0 {
		// Also what a server that died with the daemon down left: its
		// group and its dead mount.
		v.stopServer()
		return nil
	}
	if started {
		// The server died while no daemon ran (or with it): the zones'
		// view files are bound to its dead mount.
		v.m.log.Warn("the /proc view server was not running: started anew, re-attaching the running zones")
		v.reattachAll()
	}
	return nil
}

// zoneWarnings collects what parts say works less than asked for a zone.
func (m *Manager) zoneWarnings(zone string) []string {
	var out []string
	for _, p := range m.parts {
		if w, ok := p.(part.Warner); ok {
			out = append(out, w.Warnings(zone)...)
		}
	}
	return out
}

// After: the view serves the disk quota and the limits those parts set up.
func (*viewPart) After() []string { return []string{"disk quota", "resources"} }
