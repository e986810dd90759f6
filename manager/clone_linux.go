package manager

import (
	"context"
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/store"
)

// CloneZone makes a new stopped zone from src: the same template, pool
// and settings, a copy of src's own layer, and a new identity (UUID, host
// name, machine-id, host ID range). src's NICs are not copied: a clone
// gets its own. A running src is frozen while its layer is copied.
func (m *Manager) CloneZone(ctx context.Context, src string, req api.CloneZoneRequest) (*api.Zone, error) {
	if err := validate.Name("zone", src); err != nil {
		return nil, err
	}
	srec, err := m.store.GetZone(src)
	if err != nil {
		return nil, fmt.Errorf("clone zone %q: %w", src, err)
	}
	create := api.CreateZoneRequest{
		Name:                  req.Name,
		Template:              srec.Template,
		Hostname:              req.Hostname,
		Resources:             srec.Resources,
		Autostart:             srec.Autostart,
		AutostartPriority:     srec.AutostartPriority,
		AutostartDelaySeconds: srec.AutostartDelaySeconds,
		Privileged:            srec.IDMapSize == 0,
		Devices:               srec.Devices,
		Pool:                  srec.Pool,
		Labels:                srec.Labels,
	}
	z, err := m.createZone(ctx, create, func(rec *store.ZoneRecord) error {
		return m.copyLayerFrom(src, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("clone zone %q: %w", src, err)
	}
	m.log.Info("zone cloned", "zone", req.Name, "from", src)
	return z, nil
}

// copyLayerFrom copies src's layer into the fresh layer of dst, whose
// create holds dst's lock. src's lock is taken second; a src still being
// created is refused, which keeps two clones into each other's new names
// from waiting on each other's locks.
func (m *Manager) copyLayerFrom(src string, dst *store.ZoneRecord) error {
	unlock := m.lock(src)
	defer unlock()
	rec, err := m.store.GetZone(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	switch rec.State {
	case api.StateStopped, api.StateRunning:
	default:
		return fmt.Errorf("source zone %q is %s: %w", src, rec.State, errdefs.ErrConflict)
	}
	from, err := m.fsVolume(rec)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	to, err := m.fsVolume(dst)
	if err != nil {
		return err
	}
	return m.frozenIf(rec.State == api.StateRunning, src, func() error { return to.CloneFrom(from) })
}
