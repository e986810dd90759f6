package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/store"
)

// CreateSnapshot starts snapshotting the zone's own layer and returns the
// operation (a big overlay layer takes a while to copy). A running zone is
// frozen for the moment of the snapshot, so what it wrote is consistent.
func (m *Manager) CreateSnapshot(ctx context.Context, zone string, req api.CreateSnapshotRequest) (*api.Operation, error) {
	if err := validate.Name("zone", zone); err != nil {
		return nil, err
	}
	if err := validate.Name("snapshot", req.Name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	if _, err := m.store.GetZone(zone); err != nil {
		return nil, fmt.Errorf("snapshot zone %q: %w", zone, err)
	}
	if _, err := m.store.GetSnapshot(zone, req.Name); err == nil {
		return nil, errdefs.WithField("name", fmt.Errorf("snapshot %s@%s: %w", zone, req.Name, errdefs.ErrAlreadyExists))
	}
	return m.ops.start("snapshot-create", zone+"@"+req.Name, func(progress func(int, string)) error {
		return m.withZone("snapshot", zone, func(rec *store.ZoneRecord) error {
			return m.snapshotLocked(rec, req.Name, progress)
		})
	}), nil
}

// snapshotLocked takes snapshot snap of a zone whose lock is held.
func (m *Manager) snapshotLocked(rec *store.ZoneRecord, snap string, progress func(int, string)) error {
	running := rec.State == api.StateRunning
	v, err := m.volume(rec)
	if err != nil {
		return err
	}
	progress(20, "copying the zone's layer")
	if err := m.frozenIf(running, rec.Name, func() error { return v.CreateSnapshot(snap) }); err != nil {
		return err
	}
	size, _ := v.SnapshotSize(snap)
	srec := &store.SnapshotRecord{Zone: rec.Name, Name: snap, CreatedAt: time.Now().UTC(), Running: running, SizeBytes: size}
	if err := m.store.CreateSnapshot(srec); err != nil {
		_ = v.DeleteSnapshot(snap)
		return err
	}
	m.log.Info("snapshot created", "zone", rec.Name, "snapshot", snap, "running", running, "bytes", size)
	return nil
}

// frozenIf runs fn with the zone's cgroup frozen when freeze is set (the
// zone runs), so what fn reads of the zone's files is consistent.
func (m *Manager) frozenIf(freeze bool, zone string, fn func() error) (err error) {
	if !freeze {
		return fn()
	}
	cg, err := m.cg.Load(m.cgroupPath(zone))
	if err != nil {
		return fmt.Errorf("load cgroup of %q: %w", zone, err)
	}
	if err := cg.Freeze(); err != nil {
		return fmt.Errorf("freeze %q: %w", zone, err)
	}
	defer func() {
		if terr := cg.Thaw(); terr != nil {
			err = errors.Join(err, fmt.Errorf("thaw %q: %w", zone, terr))
		}
	}()
	return fn()
}

// ListSnapshots returns the zone's snapshots.
func (m *Manager) ListSnapshots(ctx context.Context, zone string) ([]api.Snapshot, error) {
	if err := validate.Name("zone", zone); err != nil {
		return nil, err
	}
	if _, err := m.store.GetZone(zone); err != nil {
		return nil, fmt.Errorf("snapshots of zone %q: %w", zone, err)
	}
	recs, err := m.store.ListSnapshots(zone)
	if err != nil {
		return nil, err
	}
	out := []api.Snapshot{}
	for _, r := range recs {
		out = append(out, api.Snapshot{Zone: r.Zone, Name: r.Name, CreatedAt: r.CreatedAt, Running: r.Running, SizeBytes: r.SizeBytes})
	}
	return out, nil
}

// RestoreSnapshot starts bringing a stopped zone's layer back to snapshot
// snap and returns the operation.
func (m *Manager) RestoreSnapshot(ctx context.Context, zone, snap string) (*api.Operation, error) {
	if err := m.checkSnapshot(zone, snap); err != nil {
		return nil, err
	}
	rec, err := m.store.GetZone(zone)
	if err != nil {
		return nil, fmt.Errorf("restore zone %q: %w", zone, err)
	}
	if rec.State != api.StateStopped {
		return nil, fmt.Errorf("restore zone %q: it is %s; stop it first: %w", zone, rec.State, errdefs.ErrConflict)
	}
	return m.ops.start("snapshot-restore", zone+"@"+snap, func(progress func(int, string)) error {
		return m.withZone("restore", zone, func(rec *store.ZoneRecord) error {
			if rec.State != api.StateStopped || m.isRunning(zone) {
				return fmt.Errorf("it is %s; stop it first: %w", rec.State, errdefs.ErrConflict)
			}
			v, err := m.volume(rec)
			if err != nil {
				return err
			}
			progress(10, "copying snapshot "+snap)
			if err := v.RestoreSnapshot(snap); err != nil {
				return err
			}
			m.log.Info("snapshot restored", "zone", zone, "snapshot", snap)
			return nil
		})
	}), nil
}

// DeleteSnapshot removes snapshot snap of the zone.
func (m *Manager) DeleteSnapshot(ctx context.Context, zone, snap string) error {
	if err := m.checkSnapshot(zone, snap); err != nil {
		return err
	}
	return m.withZone("delete snapshot of", zone, func(rec *store.ZoneRecord) error {
		v, err := m.volume(rec)
		if err != nil {
			return err
		}
		if err := v.DeleteSnapshot(snap); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		return m.store.DeleteSnapshot(zone, snap)
	})
}

func (m *Manager) checkSnapshot(zone, snap string) error {
	if err := validate.Name("zone", zone); err != nil {
		return err
	}
	if err := validate.Name("snapshot", snap); err != nil {
		return err
	}
	if _, err := m.store.GetSnapshot(zone, snap); err != nil {
		return err
	}
	return nil
}

// snapshotPart keeps snapshot records with their zone: destroying a zone
// drops its records (its snapshots go with its layer), and reconcile
// removes what an interrupted snapshot or restore left, and snapshots
// on disk and records that lost their other half.
type snapshotPart struct {
	part.Base
	host part.Host
	// thaw thaws a zone's cgroup if it is there; volume resolves a
	// zone's volume from its record (the manager's, lent as functions).
	thaw   func(zone string) error
	volume func(rec *store.ZoneRecord) (zoneVolume, error)
}

// newSnapshotPart lends the part what it needs of the manager.
func newSnapshotPart(m *Manager) snapshotPart {
	return snapshotPart{
		host: partHost{m},
		thaw: func(zone string) error {
			cg, err := m.cg.Load(m.cgroupPath(zone))
			if err != nil {
				return nil // no group: nothing is frozen
			}
			return cg.Thaw()
		},
		volume: m.volume,
	}
}

func (snapshotPart) Name() string { return "snapshots" }

func (p snapshotPart) Destroy(rec *store.ZoneRecord) error {
	return p.host.Store().DeleteZoneSnapshots(rec.Name)
}

func (p snapshotPart) Reconcile(ctx context.Context, recs []*store.ZoneRecord) error {
	for _, rec := range recs {
		if rec.State == api.StateRunning {
			// A daemon that died while a snapshot or export held the
			// zone frozen would leave it frozen for good.
			if err := p.thaw(rec.Name); err != nil {
				p.host.Logger().Warn("thaw zone after restart", "zone", rec.Name, "err", err)
			}
		}
		v, err := p.volume(rec)
		if err != nil {
			p.host.Logger().Warn("clean up snapshots", "zone", rec.Name, "err", err)
			continue
		}
		if err := v.CleanupSnapshots(); err != nil {
			p.host.Logger().Warn("clean up snapshots", "zone", rec.Name, "err", err)
		}
		onDisk, err := v.ListSnapshots()
		if err != nil {
			continue
		}
		stored, err := p.host.Store().ListSnapshots(rec.Name)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, s := range stored {
			known[s.Name] = true
		}
		disk := map[string]bool{}
		for _, s := range onDisk {
			disk[s] = true
			if !known[s] {
				// Made, but the record was never written: the snapshot
				// was never reported as made.
				_ = v.DeleteSnapshot(s)
			}
		}
		for _, s := range stored {
			if !disk[s.Name] {
				_ = p.host.Store().DeleteSnapshot(rec.Name, s.Name)
			}
		}
	}
	return nil
}

// restartSnapshot settles a snapshot the daemon died making: recorded
// means it was made; anything else is removed by the snapshot part's
// reconcile, which runs after operations are settled.
func (m *Manager) restartSnapshot(_ context.Context, op *api.Operation) (string, error) {
	zone, snap, _ := strings.Cut(op.Target, "@")
	if _, err := m.store.GetSnapshot(zone, snap); err == nil {
		return api.OutcomeCompleted, nil
	}
	return api.OutcomeRolledBack, nil
}

// After: snapshots live in the zone's pool under its quota, so destroy
// removes them before the quota part removes the zone's disk.
func (snapshotPart) After() []string { return []string{"disk quota"} }
