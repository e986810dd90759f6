package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// reconcile brings the store and the host into agreement after a start:
// interrupted creates are undone, interrupted destroys finished, running
// zones adopted, zones that died while no daemon watched are cleaned.
func (m *Manager) reconcile(ctx context.Context) error {
	if err := m.roots.Cleanup(); err != nil {
		m.log.Warn("clean storage leftovers", "err", err)
	}
	if err := m.ops.recoverInterrupted(ctx); err != nil {
		return err
	}
	tmpls, err := m.store.ListTemplates()
	if err != nil {
		return err
	}
	for _, t := range tmpls {
		if t.State != templateReady {
			m.log.Info("removing template whose build was interrupted", "template", t.Name)
			if err := m.roots.DeleteTemplate(t.Name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
			if err := m.store.DeleteTemplate(t.Name); err != nil {
				return err
			}
		}
	}
	recs, err := m.store.ListZones()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		name := rec.Name
		switch rec.State {
		case api.StateCreating:
			m.log.Info("undoing interrupted create", "zone", name)
			if err := m.destroyParts(name); err != nil {
				return fmt.Errorf("undo create of %q: %w", name, err)
			}
			if err := m.volumeToFree(rec).Delete(); err != nil {
				return fmt.Errorf("undo create of %q: %w", name, err)
			}
			if err := m.store.DeleteZone(name); err != nil {
				return err
			}
		case api.StateDestroying:
			m.log.Info("finishing interrupted destroy", "zone", name)
			if err := m.finishDestroy(name); err != nil {
				return fmt.Errorf("finish destroy of %q: %w", name, err)
			}
		case api.StateRunning, api.StateStarting, api.StateStopping:
			if rec.InitPID > 0 && m.rt.Alive(rec.InitPID, rec.InitStartTime) {
				rz := &runtimeZone{name: name, pid: rec.InitPID, startTime: rec.InitStartTime, done: make(chan struct{})}
				m.running[name] = rz
				// A record that says running already needs no write: at a
				// thousand zones, a synced transaction each was most of a
				// restart's time.
				if rec.State != api.StateRunning {
					if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
						z.State = api.StateRunning
						return nil
					}); err != nil {
						return err
					}
				}
				m.wg.Add(1)
				go m.watch(rz)
				m.log.Info("adopted running zone", "zone", name, "pid", rec.InitPID)
				continue
			}
			rz := &runtimeZone{name: name, handled: true}
			m.afterExit(rz, "died while zoned was not running")
		default:
			if err := m.releaseCgroup(name); err != nil {
				m.log.Warn("release cgroup of stopped zone", "zone", name, "err", err)
			}
		}
	}
	// Parts rebuild their host state (rules, qdiscs, views) from the
	// records as they now stand.
	recs, err = m.store.ListZones()
	if err != nil {
		return err
	}
	for _, p := range m.parts {
		if err := p.Reconcile(ctx, recs); err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	return nil
}
