package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// Annotation records in the zone's spec which quota backend holds
// its disk cap, so destroy, start and reconcile act on the right one even
// if the host filesystem changed its features since.
const Annotation = "org.zoned.disk-quota"

// Part keeps the disk quota of a zone's own layer (Resources.DiskBytes
// and DiskInodes). The storage makes the quota with the layer
// (fsshare.Volume.Create), so nothing the zone ever writes is outside the
// cap; the part checks the request, records which backend holds the cap,
// attaches it at start, counts its hits and removes it at destroy.
type Part struct {
	part.Base
	host part.Host
	fs   *fsshare.Storage
	// backends are the quota backends of zones that started or were
	// adopted, by zone name: stats of all zones must not read the store.
	backends sync.Map
	// hits counts running zones' quota hits.
	hits quotaHits
}

// New returns the disk quota part of the zones whose layers fs holds.
func New(host part.Host, fs *fsshare.Storage) *Part {
	return &Part{host: host, fs: fs}
}

func (*Part) Name() string { return "disk quota" }

// imagesDir is where the image backend keeps zones' disk images.
func (q *Part) imagesDir() string { return q.fs.ImagesDir() }

func (q *Part) zonesDir() string { return filepath.Dir(q.fs.ZoneDir("x")) }

// quotaOnLayerAnnotation marks a zone whose quota is on its layer (its
// snapshot subvolume in a btrfs pool) rather than on zones/NAME.
const quotaOnLayerAnnotation = "org.zoned.disk-quota-on-layer"

func (q *Part) ValidateCreate(_ context.Context, req *api.CreateZoneRequest) error {
	l := quota.Limits{Bytes: req.Resources.DiskBytes, Inodes: req.Resources.DiskInodes}
	if err := quota.Validate(l); err != nil {
		return errdefs.WithField("resources", err)
	}
	if l.Bytes == 0 {
		return nil
	}
	pool, err := q.fs.Pool(req.Pool)
	if err != nil {
		return nil // the pool's own check names the unknown pool
	}
	switch {
	case pool.LayerQuota() != "":
		// A quota on the layer itself caps bytes only (fsshare's
		// LimitLayer), the only such quota today being btrfs qgroups.
		if l.Inodes > 0 {
			return errdefs.WithField("resources", fmt.Errorf("resources.disk_inodes: btrfs qgroups cap bytes, not inodes: %w", errdefs.ErrUnsupported))
		}
		capacity, err := quota.Capacity(pool.Path)
		if err != nil {
			return err
		}
		if l.Bytes > capacity {
			return errdefs.WithField("resources", fmt.Errorf("resources.disk_bytes = %d: above the %d bytes of pool %q: %w", l.Bytes, capacity, pool.Name, errdefs.ErrInvalid))
		}
		return nil
	case pool.Name != fsshare.DefaultPool:
		// The quota backends take a directory that the layer is made in;
		// an overlay pool elsewhere keeps the layer outside zones/NAME.
		return errdefs.WithField("resources", fmt.Errorf("resources.disk_bytes: disk quotas in overlay pool %q are not supported yet; use the default pool or a btrfs pool: %w", pool.Name, errdefs.ErrUnsupported))
	}
	return errdefs.WithField("resources", q.checkSize(l))
}

// layerQuota names the quota on the layer itself of a zone created by
// req (the qgroup of a snapshot's own subvolume in a btrfs pool), "" when
// its quota is on zones/NAME.
func (q *Part) layerQuota(req *api.CreateZoneRequest) string {
	pool, err := q.fs.Pool(req.Pool)
	if err != nil {
		return ""
	}
	return pool.LayerQuota()
}

// dir is the directory the zone's quota is on.
func (q *Part) dir(rec *store.ZoneRecord) string {
	if rec.Spec != nil && rec.Spec.Annotations[quotaOnLayerAnnotation] != "" {
		if v, err := q.fs.Volume(rec.Pool, rec.Name); err == nil {
			return v.LayerDir()
		}
	}
	return q.fs.ZoneDir(rec.Name)
}

// checkSize refuses limits the backend of this host cannot hold.
func (q *Part) checkSize(l quota.Limits) error {
	capacity, err := quota.Capacity(q.zonesDir())
	if err != nil {
		return err
	}
	if l.Bytes > capacity {
		return fmt.Errorf("resources.disk_bytes = %d: above the %d bytes of the filesystem holding zones: %w", l.Bytes, capacity, errdefs.ErrInvalid)
	}
	name, err := quota.Detect(q.zonesDir())
	if err != nil {
		return err
	}
	if name == quota.Image && l.Bytes < quota.MinImageBytes {
		return fmt.Errorf("resources.disk_bytes = %d: a disk image needs at least %d bytes: %w", l.Bytes, quota.MinImageBytes, errdefs.ErrInvalid)
	}
	if name == quota.BtrfsQgroup && l.Inodes > 0 {
		return fmt.Errorf("resources.disk_inodes: btrfs qgroups cap bytes, not inodes: %w", errdefs.ErrUnsupported)
	}
	return nil
}

func (q *Part) Create(_ context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, _ *revert.Reverter) error {
	if req.Resources.DiskBytes == 0 || rec.Spec == nil {
		return nil
	}
	if rec.Spec.Annotations == nil {
		rec.Spec.Annotations = map[string]string{}
	}
	if kind := q.layerQuota(req); kind != "" {
		// The storage capped the layer (a snapshot's qgroup) as it made it.
		rec.Spec.Annotations[Annotation] = kind
		rec.Spec.Annotations[quotaOnLayerAnnotation] = "true"
		return nil
	}
	name, err := quota.Detect(q.zonesDir())
	if err != nil {
		return err
	}
	rec.Spec.Annotations[Annotation] = name
	if name == quota.Project && rec.IDMapSize == 0 && rec.Spec.Process != nil && rec.Spec.Process.Capabilities != nil {
		// ext4 lets CAP_SYS_RESOURCE ignore quota limits; a privileged
		// zone's root has it on the host, so it would write past the
		// quota. Unprivileged zones hold it only in their namespace.
		c := rec.Spec.Process.Capabilities
		for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Permitted, &c.Inheritable, &c.Ambient} {
			*set = dropCap(*set, "CAP_SYS_RESOURCE")
		}
	}
	return nil
}

func dropCap(caps []string, drop string) []string {
	out := caps[:0:0]
	for _, c := range caps {
		if c != drop {
			out = append(out, c)
		}
	}
	return out
}

// backend returns the quota backend holding rec's disk cap, nil for a zone
// without one.
func (q *Part) backend(rec *store.ZoneRecord) (quota.Backend, error) {
	name := ""
	if rec.Spec != nil {
		name = rec.Spec.Annotations[Annotation]
	}
	if name == "" {
		return nil, nil
	}
	return quota.ByName(name, q.imagesDir())
}

// prestart mounts the zone's disk image again after a host reboot, before
// the zone's init looks for its layer.
func (q *Part) Prestart(_ context.Context, rec *store.ZoneRecord, _ *revert.Reverter) error {
	b, err := q.backend(rec)
	if err != nil || b == nil {
		return err
	}
	q.setRef(rec.Name, b, q.dir(rec))
	return b.Attach(q.dir(rec))
}

// start counts the zone's quota hits from 0, as its cgroup's counters
// start from 0.
func (q *Part) Start(_ context.Context, rec *store.ZoneRecord, _ int, r *revert.Reverter) error {
	r.Add(func() { q.unwatchHits(rec.Name) })
	q.watchHits(rec, false)
	return nil
}

func (q *Part) Stopped(rec *store.ZoneRecord) { q.unwatchHits(rec.Name) }

// reconcile mounts every zone's disk image at daemon start, so a stopped
// zone's files are where the daemon writes them (hostname, devices) after
// a host reboot too.
func (q *Part) Reconcile(_ context.Context, recs []*store.ZoneRecord) error {
	for _, rec := range recs {
		if rec.State == api.StateDestroying || rec.State == api.StateCreating {
			continue
		}
		b, err := q.backend(rec)
		if err == nil && b != nil {
			q.setRef(rec.Name, b, q.dir(rec))
			err = b.Attach(q.dir(rec))
		}
		if err != nil {
			q.host.Logger().Warn("attach disk quota", "zone", rec.Name, "err", err)
			continue
		}
		if rec.State == api.StateRunning {
			q.watchHits(rec, true)
		}
	}
	return nil
}

// destroy removes the zone's directory with its quota: image unmounted and
// deleted, qgroup or project limit dropped. A zone whose create died half
// way has no annotation yet; its image, if any, is found by name.
func (q *Part) Destroy(rec *store.ZoneRecord) error {
	if v, ok := q.backends.LoadAndDelete(rec.Name); ok {
		v.(*quotaRef).usage.Close()
	}
	q.unwatchHits(rec.Name)
	b, err := q.backend(rec)
	if err != nil {
		return err
	}
	if rec.Spec != nil && rec.Spec.Annotations[quotaOnLayerAnnotation] != "" {
		// The quota is the qgroup of the zone's snapshot, which the
		// storage deletes with its qgroup.
		return nil
	}
	dir := q.fs.ZoneDir(rec.Name)
	if b == nil {
		img := filepath.Join(q.imagesDir(), rec.Name+".img")
		if _, err := os.Stat(img); err != nil {
			return nil
		}
		b, _ = quota.ByName(quota.Image, q.imagesDir())
	}
	return b.Remove(dir)
}

func (q *Part) UpdateResources(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error {
	if patch.DiskBytes == nil && patch.DiskInodes == nil {
		return nil
	}
	l := quota.Limits{Bytes: res.DiskBytes, Inodes: res.DiskInodes}
	if patch.DiskBytes != nil {
		l.Bytes = *patch.DiskBytes
	}
	if patch.DiskInodes != nil {
		l.Inodes = *patch.DiskInodes
	}
	if err := quota.Validate(l); err != nil {
		return errdefs.WithField("resources", err)
	}
	b, err := q.backend(rec)
	if err != nil {
		return err
	}
	if b == nil {
		return errdefs.WithField("resources", fmt.Errorf("resources.disk_bytes: the zone was created without a disk quota, and its layer cannot be moved under one while it exists: %w", errdefs.ErrUnsupported))
	}
	if l.Bytes > 0 {
		if err := q.checkSize(l); err != nil {
			return errdefs.WithField("resources", err)
		}
	}
	live := rec.State == api.StateRunning || q.host.Running(rec.Name)
	if err := b.SetLimits(q.dir(rec), l, live); err != nil {
		return errdefs.WithField("resources", fmt.Errorf("resources.disk_bytes: %w", err))
	}
	res.DiskBytes, res.DiskInodes = l.Bytes, l.Inodes
	return nil
}
