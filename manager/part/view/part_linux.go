package view

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/procview"
	"github.com/zoned-project/zoned/store"
)

// Part gives each running zone its /proc view (package procview): the
// view server runs as a process of its own, in a cgroup of its own, so
// zones keep their view while the daemon restarts or is upgraded; the
// daemon starts it when a zone starts and none runs, and stops it a little
// after the last zone stops (viewLinger) or when it ends with none
// running. Without FUSE a zone starts with the host's /proc files, a
// warning in the log and in `zonectl show`.
type Part struct {
	part.Base
	host part.Host
	// diskOf reads what statfs should show in a zone whose root
	// filesystem cannot (see learnDisk).
	diskOf DiskOf

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

// DiskOf returns the disk quota a zone's statfs should report through the
// view, or nil when the zone's root filesystem reports it itself (an
// image, ext4 and XFS project quotas); an error is logged and the zone's
// df shows the pool.
type DiskOf func(rec *store.ZoneRecord) (*procview.DiskQuota, error)

// New returns the /proc view part. diskOf comes from the disk quota part,
// which runs before this one.
func New(host part.Host, diskOf DiskOf) *Part {
	return &Part{host: host, diskOf: diskOf, degraded: map[string]string{}, disks: map[string]*procview.DiskQuota{}}
}

func (*Part) Name() string { return "proc view" }

// learnDisk finds what the view tells statfs in rec's zone about its
// disk: a btrfs qgroup's counters, since btrfs's statfs reports the whole
// filesystem; the other backends' statfs reports the quota itself (an
// image is a filesystem of its own, ext4 and XFS cut statfs to a
// directory's project quota). Without the counters, df shows the pool.
func (v *Part) learnDisk(rec *store.ZoneRecord) {
	disk, err := v.diskOf(rec)
	if err != nil {
		v.host.Logger().Warn("df in the zone will show the pool, not the zone's quota", "zone", rec.Name, "err", err)
		disk = nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if disk == nil {
		delete(v.disks, rec.Name)
	} else {
		v.disks[rec.Name] = disk
	}
}

func (v *Part) disk(zone string) *procview.DiskQuota {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.disks[zone]
}

func (v *Part) setDegraded(zone, why string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if why == "" {
		delete(v.degraded, zone)
	} else {
		v.degraded[zone] = why
	}
}

// warnings says what is wrong with a zone's view, for show.
func (v *Part) Warnings(zone string) []string {
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
func (v *Part) Prestart(_ context.Context, rec *store.ZoneRecord, r *revert.Reverter) error {
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
		err = procview.SetZone(v.state(), rec.Name, procview.Config{Cgroup: v.host.CgroupPath(rec.Name)})
	}
	v.srv.Unlock()
	if errdefs.IsNoSpace(err) {
		// A full disk is no missing kernel feature to start without:
		// the caller learns it (507) instead of a zone with stale files.
		return fmt.Errorf("tell the /proc view about the zone: %w", err)
	}
	if err != nil {
		v.host.Logger().Warn("zone starts without its /proc view", "zone", rec.Name, "err", err)
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
func (v *Part) ExecSeccomp(zone string, sc *specs.LinuxSeccomp) *specs.LinuxSeccomp {
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
func (v *Part) Start(_ context.Context, rec *store.ZoneRecord, pid int, _ *revert.Reverter) error {
	err := v.setZone(rec.Name, pid)
	v.mu.Lock()
	_, degraded := v.degraded[rec.Name]
	v.mu.Unlock()
	if degraded && !errdefs.IsNoSpace(err) {
		return nil
	}
	return err
}

func (v *Part) setZone(zone string, pid int) error {
	ticks, err := procview.StartTicks(pid)
	if err == nil {
		err = procview.SetZone(v.state(), zone, procview.Config{Cgroup: v.host.CgroupPath(zone), InitPID: pid, InitStart: ticks, Disk: v.disk(zone)})
	}
	if err != nil {
		v.host.Logger().Warn("tell the /proc view about a zone", "zone", zone, "err", err)
		return fmt.Errorf("tell the /proc view about zone %q: %w", zone, err)
	}
	return nil
}

func (v *Part) Stopped(rec *store.ZoneRecord) { v.forget(rec.Name) }

func (v *Part) Destroy(rec *store.ZoneRecord) error {
	v.forget(rec.Name)
	return nil
}

// forget drops a zone from the view and stops the server when no zone is
// left, so nothing of zoned runs or stays mounted without zones.
func (v *Part) forget(zone string) {
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

// reconcile serves the zones that run (a view that died with the host or
// was killed comes back) and stops a view that serves none.
func (v *Part) Reconcile(_ context.Context, recs []*store.ZoneRecord) error {
	var running []*store.ZoneRecord
	for _, rec := range recs {
		if rec.State != api.StateRunning || rec.InitPID <= 0 {
			_ = procview.DropZone(v.state(), rec.Name)
			continue
		}
		running = append(running, rec)
		v.learnDisk(rec) // runs btrfs-progs: before taking srv
	}
	v.srv.Lock()
	defer v.srv.Unlock()
	if len(running) == 0 {
		// Also what a server that died with the daemon down left: its
		// group and its dead mount.
		v.stopServer()
		return nil
	}
	// One check of the server for all zones: asking it once per zone
	// was most of a restart's time at a thousand zones.
	started, err := v.ensure()
	if err != nil {
		for _, rec := range running {
			v.host.Logger().Warn("zone view unavailable", "zone", rec.Name, "err", err)
			v.setDegraded(rec.Name, err.Error())
		}
		return nil
	}
	for _, rec := range running {
		_ = v.setZone(rec.Name, rec.InitPID) // logged; reconcile goes on
	}
	if started {
		// The server died while no daemon ran (or with it): the zones'
		// view files are bound to its dead mount.
		v.host.Logger().Warn("the /proc view server was not running: started anew, re-attaching the running zones")
		v.reattachAll()
	}
	return nil
}

// After: the view reports the disk quota and the limits those parts set
// up, so it starts after them (and is undone before them).
func (*Part) After() []string { return []string{"disk quota", "resources"} }
