package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// StartZone boots a stopped zone.
func (m *Manager) StartZone(ctx context.Context, name string) (*api.Zone, error) {
	var saved *store.ZoneRecord
	err := m.withZone("start", name, func(rec *store.ZoneRecord) (err error) {
		if rec.State != api.StateStopped {
			return fmt.Errorf("zone is %s, not stopped: %w", rec.State, errdefs.ErrConflict)
		}
		saved, err = m.startLocked(rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.toAPI(saved, false), nil
}

// startLocked: state starting → cgroup with limits → console → init
// spawned into the cgroup before it runs anything → state running.
func (m *Manager) startLocked(rec *store.ZoneRecord) (_ *store.ZoneRecord, err error) {
	name := rec.Name
	r := revert.New()
	defer r.Fail()

	if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateStarting
		return nil
	}); err != nil {
		return nil, err
	}
	r.Add(func() {
		_, _ = m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
			z.State = api.StateStopped
			z.InitPID, z.InitStartTime = 0, 0
			if err != nil {
				z.LastExit = "start failed: " + err.Error()
			}
			return nil
		})
	})

	// A cgroup left by a zone that died while no daemon watched it would
	// hold stale limits and maybe processes: start from a clean one.
	if err := m.releaseCgroup(name); err != nil {
		return nil, err
	}
	res := cgroups.ToSpec(rec.Resources)
	if rec.Spec != nil && rec.Spec.Linux != nil {
		cgroups.AllowDevices(res, rec.Spec.Linux.Devices)
	}
	if err := m.setBlockIO(name, rec.Resources, res); err != nil {
		return nil, err
	}
	cg, err := m.cg.New(m.cgroupPath(name), res)
	if err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	r.Add(func() {
		_ = cg.Kill()
		_ = cg.Delete()
	})
	// Before the zone can make groups below its own: they cost the host
	// kernel memory its memory limit does not pay for.
	if err := m.cg.LimitTree(m.cgroupPath(name), *m.cfg.CgroupTree); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if rec.IDMapSize > 0 {
		// The zone's root manages its own subtree (systemd does).
		if err := m.cg.Delegate(m.cgroupPath(name), int(rec.IDMapBase), int(rec.IDMapBase)); err != nil {
			return nil, err
		}
	}

	// An unprivileged zone's console is its root's (nsRuntime.OpenConsole).
	owner := -1
	if rec.IDMapSize > 0 {
		owner = int(rec.IDMapBase)
	}
	master, slave, err := m.rt.OpenConsole(owner)
	if err != nil {
		return nil, err
	}
	defer slave.Close()
	r.Add(func() { master.Close() })

	ctx := context.Background()
	for _, p := range m.parts {
		if err := p.Prestart(ctx, rec, r); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	// After prestart: a part may add mounts for this start only (the /proc
	// view's bind mounts, when the view is served).
	spec := *rec.Spec
	root := *spec.Root
	vol, err := m.volume(rec)
	if err != nil {
		return nil, err
	}
	root.Path = vol.RootPath()
	spec.Root = &root
	devicesDir, err := m.makeDeviceNodes(rec)
	if err != nil {
		return nil, fmt.Errorf("optional devices: %w", err)
	}
	init, err := m.rt.Spawn(namespaces.SpawnOptions{
		Config: namespaces.InitConfig{
			Zone:       name,
			Spec:       &spec,
			RootMount:  vol.RootMount(rec.Template),
			CgroupV2:   m.cg.Mode() == "v2",
			DevicesDir: devicesDir,
			// Only used for a zone in a user namespace.
			UserNSLimits: m.cfg.UserNSLimits,
		},
		Console: slave,
		Setup: func(pid int) error {
			if err := cg.AddProc(pid); err != nil {
				return err
			}
			for _, p := range m.parts {
				if err := p.Start(ctx, rec, pid, r); err != nil {
					return fmt.Errorf("%s: %w", p.Name(), err)
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r.Add(func() {
		_ = init.Kill()
		_, _ = init.Wait()
	})

	now := time.Now().UTC()
	saved, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateRunning
		z.InitPID = init.PID()
		z.InitStartTime = init.StartTime()
		z.StartedAt = &now
		z.LastExit = ""
		z.QuotaHits = 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Success()

	rz := &runtimeZone{
		name:        name,
		pid:         init.PID(),
		startTime:   init.StartTime(),
		init:        init,
		done:        make(chan struct{}),
		statusKnown: true,
		console:     master,
		fanout:      newConsoleFanout(),
	}
	m.mu.Lock()
	m.running[name] = rz
	m.mu.Unlock()
	go m.copyConsole(name, master, rz.fanout)
	m.wg.Add(1)
	go m.watch(rz)
	m.log.Info("zone started", "zone", name, "pid", init.PID())
	m.emit(api.EventZoneStarted, name, saved.State, "")
	return saved, nil
}
