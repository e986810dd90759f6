package disk

import (
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// Usage is what the zone's own layer takes on disk and its caps, as the
// quota backend counts them; a zone without a quota gets the bytes of its
// layer and no backend.
func (q *Part) Usage(rec *store.ZoneRecord) (*quota.Usage, error) {
	name := rec.Name
	b, err := q.backend(rec)
	if err != nil {
		return nil, err
	}
	if b == nil {
		v, err := q.fs.Volume(rec.Pool, rec.Name)
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
func (q *Part) reader(zone string) *quota.UsageReader {
	if v, ok := q.backends.Load(zone); ok {
		return v.(*quotaRef).usage
	}
	return nil
}

// setRef keeps how to read zone's disk use, for stats of every zone.
func (q *Part) setRef(zone string, b quota.Backend, dir string) {
	if old, ok := q.backends.Swap(zone, &quotaRef{usage: quota.NewUsageReader(b, dir)}); ok {
		old.(*quotaRef).usage.Close()
	}
}

// FillStats adds disk use against the quota and the quota's hits to a
// zone's stats. Zones without a quota are left out: measuring them means
// walking their layer, too slow for stats of every zone at once. The
// read samples the quota too, so a hit is counted by the time a reader
// that saw the write refused asks.
func (q *Part) FillStats(zone string, st *api.ZoneStats) {
	st.Fails.Quota = q.sampleHit(zone)
	v, ok := q.backends.Load(zone)
	if !ok {
		return
	}
	u, err := v.(*quotaRef).usage.Read()
	if err != nil {
		q.host.Logger().Debug("disk usage for stats", "zone", zone, "err", err)
		return
	}
	st.DiskBytes, st.DiskLimitBytes = uint64(u.Bytes), uint64(u.LimitBytes)
	st.DiskInodes, st.DiskLimitInodes = uint64(u.Inodes), uint64(u.LimitInodes)
}

// BtrfsCounters is what the /proc view tells statfs in a zone about its
// disk: a btrfs qgroup's counters, since btrfs's statfs reports the whole
// filesystem; nil for the other backends, whose statfs reports the quota
// itself, and for a zone not started since the daemon did.
func (q *Part) BtrfsCounters(rec *store.ZoneRecord) (*quota.BtrfsCounters, error) {
	r := q.reader(rec.Name)
	if r == nil || rec.Spec == nil || rec.Spec.Annotations[Annotation] != quota.BtrfsQgroup {
		return nil, nil
	}
	return r.BtrfsCounters()
}
