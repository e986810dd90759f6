//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part/disk"
	"github.com/zoned-project/zoned/store"
)

// loadPools registers the stored pools with the storage, before reconcile
// needs to find zones' layers in them. A pool whose directory is gone is
// logged and left out: its zones fail to start with a clear error rather
// than keeping the daemon from starting.
func (m *Manager) loadPools() error {
	recs, err := m.store.ListPools()
	if err != nil {
		return fmt.Errorf("load pools: %w", err)
	}
	for _, r := range recs {
		if _, err := m.fs.AddPool(r.Name, r.Path, r.Backend); err != nil {
			m.log.Error("storage pool unusable", "pool", r.Name, "path", r.Path, "err", err)
		}
	}
	return nil
}

// ListPools returns the pools, the default one first, with their zones.
func (m *Manager) ListPools(ctx context.Context) ([]api.Pool, error) {
	recs, err := m.store.ListPools()
	if err != nil {
		return nil, err
	}
	created := map[string]time.Time{}
	for _, r := range recs {
		created[r.Name] = r.CreatedAt
	}
	var out []api.Pool
	for _, p := range m.fs.Pools() {
		zones, err := m.store.ZonesInPool(p.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, api.Pool{Name: p.Name, Path: p.Path, Backend: p.Backend, Default: p.Name == fsshare.DefaultPool,
			Quota: disk.PoolQuota(m.fs, p), Zones: zones, CreatedAt: created[p.Name]})
	}
	return out, nil
}

// CreatePool makes a directory a pool. The backend is checked against the
// directory's filesystem before anything is stored.
func (m *Manager) CreatePool(ctx context.Context, req api.CreatePoolRequest) (_ *api.Pool, err error) {
	if err := validate.Name("pool", req.Name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	m.tmplMu.Lock()
	defer m.tmplMu.Unlock()
	info, err := m.fs.AddPool(req.Name, req.Path, req.Backend)
	if err != nil {
		return nil, fmt.Errorf("create pool %q: %w", req.Name, err)
	}
	rec := &store.PoolRecord{Name: info.Name, Path: info.Path, Backend: info.Backend, CreatedAt: time.Now().UTC()}
	if err := m.store.CreatePool(rec); err != nil {
		_ = m.fs.RemovePool(req.Name)
		return nil, errdefs.WithField("name", fmt.Errorf("create pool %q: %w", req.Name, err))
	}
	m.log.Info("pool created", "pool", info.Name, "path", info.Path, "backend", info.Backend)
	return &api.Pool{Name: info.Name, Path: info.Path, Backend: info.Backend, Quota: disk.PoolQuota(m.fs, info), CreatedAt: rec.CreatedAt}, nil
}

// DeletePool forgets a pool no zone uses. Creates hold tmplMu for
// reading, so no zone can land in the pool while it goes.
func (m *Manager) DeletePool(ctx context.Context, name string) error {
	if err := validate.Name("pool", name); err != nil {
		return err
	}
	m.tmplMu.Lock()
	defer m.tmplMu.Unlock()
	zones, err := m.store.ZonesInPool(name)
	if err != nil {
		return err
	}
	if len(zones) > 0 {
		return fmt.Errorf("delete pool %q: used by zones %s: %w", name, strings.Join(zones, ", "), errdefs.ErrConflict)
	}
	if err := m.fs.RemovePool(name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	if err := m.store.DeletePool(name); err != nil {
		return err
	}
	m.log.Info("pool deleted", "pool", name)
	return nil
}

// DiskUsage counts what templates and zones take on disk and what sharing
// saves against full copies.
func (m *Manager) DiskUsage(ctx context.Context) (*api.DiskUsage, error) {
	tmpls, err := m.store.ListTemplates()
	if err != nil {
		return nil, err
	}
	zones, err := m.store.ListZones()
	if err != nil {
		return nil, err
	}
	du := &api.DiskUsage{Templates: []api.TemplateDiskUsage{}, Zones: []api.ZoneDiskUsage{}}
	size := map[string]int64{}
	pools := m.fs.Pools()
	for _, t := range tmpls {
		if t.State != templateReady {
			continue
		}
		n, err := m.fs.TemplateSize(t.Name)
		if err != nil {
			return nil, err
		}
		tu := api.TemplateDiskUsage{Name: t.Name, Bytes: n}
		for _, p := range pools {
			if !p.CopiesTemplates() {
				continue
			}
			c, err := m.fs.PoolTemplateSize(p.Name, t.Name)
			if err != nil {
				return nil, err
			}
			if tu.PoolCopyBytes == nil {
				tu.PoolCopyBytes = map[string]int64{}
			}
			tu.PoolCopyBytes[p.Name] = c
			du.UsedBytes += c
		}
		size[t.Name] = n
		du.UsedBytes += n
		du.FullCopyBytes += n
		du.Templates = append(du.Templates, tu)
	}
	for i := range du.Templates {
		for _, z := range zones {
			if z.Template == du.Templates[i].Name {
				du.Templates[i].Zones++
			}
		}
	}
	for _, z := range zones {
		v, err := m.volume(z)
		if err != nil {
			continue // its pool is gone: nothing of it to count
		}
		own, err := v.Usage()
		if err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				continue // being created or destroyed
			}
			return nil, err
		}
		du.Zones = append(du.Zones, api.ZoneDiskUsage{Name: z.Name, Pool: poolName(z.Pool), Template: z.Template, OwnBytes: own})
		du.UsedBytes += own
		du.FullCopyBytes += size[z.Template] + own
	}
	du.SavedBytes = du.FullCopyBytes - du.UsedBytes
	return du, nil
}

// volume is the zone's layer in the pool its record names: the store
// record is the truth about where a zone's layer is.
func (m *Manager) volume(rec *store.ZoneRecord) (zoneVolume, error) {
	return m.roots.Volume(rec.Pool, rec.Name)
}

// fsVolume is volume as the storage's own type, for the storage's work
// between volumes (clone, export, import).
func (m *Manager) fsVolume(rec *store.ZoneRecord) (*fsshare.Volume, error) {
	return m.fs.Volume(rec.Pool, rec.Name)
}

// volumeToFree is the volume destroy and an undone create free: the
// record's pool, or the default pool when that pool is gone from the
// storage (its directory vanished), which frees zones/NAME at least.
func (m *Manager) volumeToFree(rec *store.ZoneRecord) zoneVolume {
	v, err := m.volume(rec)
	if err != nil {
		m.log.Warn("zone's pool is not loaded: freeing its directory in the data dir only", "zone", rec.Name, "pool", rec.Pool, "err", err)
		v, _ = m.roots.Volume(fsshare.DefaultPool, rec.Name)
	}
	return v
}

// poolName is the pool a record names, "" being the default pool.
func poolName(p string) string {
	if p == "" {
		return fsshare.DefaultPool
	}
	return p
}

// probeRootOnce runs probe, the check that this host can build an
// unprivileged zone's idmapped root, once per pool and template: whether
// it can depends on the kernel and the filesystems of the pool and the
// template, not on the zone, and the probe (a process holding a user
// namespace, a mount built and dropped) is most of a create's time.
func (m *Manager) probeRootOnce(pool, template string, probe func() error) error {
	key := poolName(pool) + "\x00" + template
	if _, ok := m.rootProbes.Load(key); ok {
		return nil
	}
	if err := probe(); err != nil {
		return err
	}
	m.rootProbes.Store(key, true)
	return nil
}
