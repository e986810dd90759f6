package manager

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

// diskQuotaAnnotation records in the zone's spec which quota backend holds
// its disk cap, so destroy, start and reconcile act on the right one even
// if the host filesystem changed its features since.
const diskQuotaAnnotation = "org.zoned.disk-quota"

// quotaPart keeps the disk quota of a zone's own layer (Resources.DiskBytes
// and DiskInodes). The storage makes the quota with the layer
// (fsshare.Volume.Create), so nothing the zone ever writes is outside the
// cap; the part checks the request, records which backend holds the cap,
// attaches it at start, counts its hits and removes it at destroy.
type quotaPart struct {
	part.Base
	m *Manager
	// backends are the quota backends of zones that started or were
	// adopted, by zone name: stats of all zones must not read the store.
	backends sync.Map
	// hits counts running zones' quota hits.
	hits quotaHits
}

func (*quotaPart) Name() string { return "disk quota" }

// imagesDir is where the image backend keeps zones' disk images, beside
// zones/ and not in it: each image is mounted over zones/NAME.
func (q *quotaPart) imagesDir() string { return q.m.fs.ImagesDir() }

func (q *quotaPart) zonesDir() string { return filepath.Dir(q.m.fs.ZoneDir("x")) }

// quotaOnLayerAnnotation marks a zone whose quota is on its layer (its
// snapshot subvolume in a btrfs pool) rather than on zones/NAME.
const quotaOnLayerAnnotation = "org.zoned.disk-quota-on-layer"

func (q *quotaPart) ValidateCreate(_ context.Context, req *api.CreateZoneRequest) error {
	l := quota.Limits{Bytes: req.Resources.DiskBytes, Inodes: req.Resources.DiskInodes}
	if err := quota.Validate(l); err != nil {
		return errdefs.WithField("resources", err)
	}
	if l.Bytes == 0 {
		return nil
	}
	pool, err := q.m.fs.Pool(req.Pool)
	if err != nil {
		return nil // the pool's own check names the unknown pool
	}
	switch {
	case pool.Backend == fsshare.BackendBtrfs:
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

// poolQuota names the backend that enforces --disk in pool, as
// validateCreate and create choose it: a btrfs pool's qgroups, the
// default pool's filesystem's project quota or else disk images, and
// none in other overlay pools.
func (m *Manager) poolQuota(pool fsshare.PoolInfo) string {
	switch {
	case pool.Backend == fsshare.BackendBtrfs:
		return quota.BtrfsQgroup
	case pool.Name != fsshare.DefaultPool:
		return "none"
	}
	name, err := quota.Detect(filepath.Dir(m.fs.ZoneDir("x")))
	if err != nil {
		// No zones/ yet: it will be made on the pool's filesystem.
		if name, err = quota.Detect(pool.Path); err != nil {
			return "none"
		}
	}
	return name
}

// onBtrfsPool says whether a zone created by req is a snapshot in a btrfs
// pool, whose own subvolume carries the quota.
func (q *quotaPart) onBtrfsPool(req *api.CreateZoneRequest) bool {
	pool, err := q.m.fs.Pool(req.Pool)
	return err == nil && pool.Backend == fsshare.BackendBtrfs
}

// dir is the directory the zone's quota is on.
func (q *quotaPart) dir(rec *store.ZoneRecord) string {
	if rec.Spec != nil && rec.Spec.Annotations[quotaOnLayerAnnotation] != "" {
		if v, err := q.m.volume(rec); err == nil {
			return v.LayerDir()
		}
	}
	return q.m.fs.ZoneDir(rec.Name)
}

// checkSize refuses limits the backend of this host cannot hold.
func (q *quotaPart) checkSize(l quota.Limits) error {
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

func (q *quotaPart) Create(_ context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, _ *revert.Reverter) error {
	if req.Resources.DiskBytes == 0 || rec.Spec == nil {
		return nil
	}
	if rec.Spec.Annotations == nil {
		rec.Spec.Annotations = map[string]string{}
	}
	if q.onBtrfsPool(req) {
		// The storage capped the snapshot's qgroup as it made it.
		rec.Spec.Annotations[diskQuotaAnnotation] = quota.BtrfsQgroup
		rec.Spec.Annotations[quotaOnLayerAnnotation] = "true"
		return nil
	}
	name, err := quota.Detect(q.zonesDir())
	if err != nil {
		return err
	}
	rec.Spec.Annotations[diskQuotaAnnotation] = name
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
func (q *quotaPart) backend(rec *store.ZoneRecord) (quota.Backend, error) {
	name := ""
	if rec.Spec != nil {
		name = rec.Spec.Annotations[diskQuotaAnnotation]
	}
	if name == "" {
		return nil, nil
	}
	return quota.ByName(name, q.imagesDir())
}

// prestart mounts the zone's disk image again after a host reboot, before
// the zone's init looks for its layer.
func (q *quotaPart) Prestart(_ context.Context, rec *store.ZoneRecord, _ *revert.Reverter) error {
	b, err := q.backend(rec)
	if err != nil || b == nil {
		return err
	}
	q.setRef(rec.Name, b, q.dir(rec))
	return b.Attach(q.dir(rec))
}

// start counts the zone's quota hits from 0, as its cgroup's counters
// start from 0.
func (q *quotaPart) Start(_ context.Context, rec *store.ZoneRecord, _ int, r *revert.Reverter) error {
	r.Add(func() { q.unwatchHits(rec.Name) })
	q.watchHits(rec, false)
	return nil
}

func (q *quotaPart) Stopped(rec *store.ZoneRecord) { q.unwatchHits(rec.Name) }

// reconcile mounts every zone's disk image at daemon start, so a stopped
// zone's files are where the daemon writes them (hostname, devices) after
// a host reboot too.
func (q *quotaPart) Reconcile(_ context.Context, recs []*store.ZoneRecord) error {
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
			q.m.log.Warn("attach disk quota", "zone", rec.Name, "err", err)
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
func (q *quotaPart) Destroy(rec *store.ZoneRecord) error {
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
	dir := q.m.fs.ZoneDir(rec.Name)
	if b == nil {
		img := filepath.Join(q.imagesDir(), rec.Name+".img")
		if _, err := os.Stat(img); err != nil {
			return nil
		}
		b, _ = quota.ByName(quota.Image, q.imagesDir())
	}
	return b.Remove(dir)
}

func (q *quotaPart) UpdateResources(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error {
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
	live := rec.State == api.StateRunning || q.m.isRunning(rec.Name)
	if err := b.SetLimits(q.dir(rec), l, live); err != nil {
		return errdefs.WithField("resources", fmt.Errorf("resources.disk_bytes: %w", err))
	}
	res.DiskBytes, res.DiskInodes = l.Bytes, l.Inodes
	return nil
}

// ZoneDiskUsage is what the zone's own layer takes on disk and its caps, as
// the quota backend counts them; a zone without a quota gets the bytes of
// its layer and no backend.
func (m *Manager) ZoneDiskUsage(name string) (*quota.Usage, error) {
	rec, err := m.store.GetZone(name)
	if err != nil {
		return nil, fmt.Errorf("zone %q: %w", name, err)
	}
	q := m.quota
	b, err := q.backend(rec)
	if err != nil {
		return nil, err
	}
	if b == nil {
		v, err := m.volume(rec)
		if err != nil {
			return nil, err
		}
		n, err := v.Usage()
		if err != nil {
			return nil, err
		}
		return &quota.Usage{Bytes: n}, nil
	}
	u, err := b.Usage(q.dir(rec))
	if err != nil {
		return nil, fmt.Errorf("disk usage of zone %q: %w", name, err)
	}
	return &u, nil
}

// quotaRef reads a zone's disk use for stats.
type quotaRef struct {
	usage *quota.UsageReader
}

// reader is how zone's disk use is read, nil for a zone without a quota
// or not started since the daemon did.
func (q *quotaPart) reader(zone string) *quota.UsageReader {
	if v, ok := q.backends.Load(zone); ok {
		return v.(*quotaRef).usage
	}
	return nil
}

// setRef keeps how to read zone's disk use, for stats of every zone.
func (q *quotaPart) setRef(zone string, b quota.Backend, dir string) {
	if old, ok := q.backends.Swap(zone, &quotaRef{usage: quota.NewUsageReader(b, dir)}); ok {
		old.(*quotaRef).usage.Close()
	}
}

// fillStats adds disk use against the quota and the quota's hits to a
// zone's stats. Zones without a quota are left out: measuring them means
// walking their layer, too slow for stats of every zone at once. The
// read samples the quota too, so a hit is counted by the time a reader
// that saw the write refused asks.
func (q *quotaPart) FillStats(zone string, st *api.ZoneStats) {
	st.Fails.Quota = q.sampleHit(zone)
	v, ok := q.backends.Load(zone)
	if !ok {
		return
	}
	u, err := v.(*quotaRef).usage.Read()
	if err != nil {
		q.m.log.Debug("disk usage for stats", "zone", zone, "err", err)
		return
	}
	st.DiskBytes, st.DiskLimitBytes = uint64(u.Bytes), uint64(u.LimitBytes)
	st.DiskInodes, st.DiskLimitInodes = uint64(u.Inodes), uint64(u.LimitInodes)
}
