package disk

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// quotaSampleInterval is how often every running zone's disk is checked
// against its quota. A hit and its end within one interval are missed
// (project quotas' kernel warnings catch those); a statfs, two sysfs
// reads or a quotactl per zone cost little even for hundreds of zones.
const quotaSampleInterval = 2 * time.Second

// quotaHits counts the times each running zone ran into its disk quota
// (api.ZoneFails.Quota): rising edges of "at the quota", from samples of
// every zone's quota.Probe and, for project quotas, from the kernel's
// quota warnings. Counts are since the zone started, as the cgroup's
// counters are; each hit is saved in the zone's record, so a daemon that
// adopts the zone after a restart counts on from there.
type quotaHits struct {
	mu    sync.Mutex
	zones map[string]*zoneHits
	// byKey finds the zone a kernel warning is about.
	byKey map[quota.WarningKey]string
	// warnings is the subscription to the kernel's warnings, made with
	// the first project-quota zone; warnErr remembers that the kernel
	// has none, so it is not asked again.
	warnings *quota.Warnings
	warnErr  error
	// stop ends the sampler, which closes done; both are nil until the
	// first zone is watched.
	stop, done chan struct{}
}

// zoneHits is one zone's counter and what it is watched with.
type zoneHits struct {
	probe *quota.Probe
	// full says the zone is at its quota: the last hit has not ended.
	full  bool
	count uint64
	// warned says the kernel's warnings tell this zone's hits, so
	// samples only tell when a hit has ended. A sample near the quota
	// is no refused write there, and would mask the warning of one.
	warned bool
}

// watchHits starts counting rec's quota hits: from 0 for a zone that
// starts, from its record's count for one adopted. A zone whose probe
// cannot be made runs on, uncounted.
func (q *Part) watchHits(rec *store.ZoneRecord, adopted bool) {
	r := q.reader(rec.Name)
	if r == nil {
		return // no quota
	}
	p, err := quota.NewProbe(r)
	if err != nil {
		q.host.Logger().Warn("cannot count disk quota hits", "zone", rec.Name, "err", err)
		return
	}
	// A zone that starts at its quota ran into it before: not a hit of
	// this run.
	f, _ := p.Fill()
	z := &zoneHits{probe: p, full: f == quota.Full}
	if adopted {
		z.count = rec.QuotaHits
	}
	h := &q.hits
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forgetLocked(rec.Name)
	if h.zones == nil {
		h.zones, h.byKey = map[string]*zoneHits{}, map[quota.WarningKey]string{}
	}
	h.zones[rec.Name] = z
	if p.Key != (quota.WarningKey{}) {
		if h.warnings == nil && h.warnErr == nil {
			h.warnings, h.warnErr = quota.WatchWarnings(q.warned)
			if h.warnErr != nil {
				q.host.Logger().Warn("no kernel quota warnings: project quota hits are sampled", "err", h.warnErr)
			}
		}
		if h.warnings != nil {
			z.warned = true
			h.byKey[p.Key] = rec.Name
		}
	}
	if h.stop == nil {
		h.stop, h.done = make(chan struct{}), make(chan struct{})
		go q.sampleHits(h.stop, h.done)
	}
}

// unwatchHits stops counting a zone's hits: it stopped or is destroyed.
func (q *Part) unwatchHits(zone string) {
	q.hits.mu.Lock()
	defer q.hits.mu.Unlock()
	q.hits.forgetLocked(zone)
}

func (h *quotaHits) forgetLocked(zone string) {
	z := h.zones[zone]
	if z == nil {
		return
	}
	delete(h.zones, zone)
	if h.byKey[z.probe.Key] == zone {
		delete(h.byKey, z.probe.Key)
	}
	z.probe.Close()
}

// sampleHits checks every watched zone each interval, until stop.
func (q *Part) sampleHits(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(quotaSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		q.hits.mu.Lock()
		zones := make([]string, 0, len(q.hits.zones))
		for name := range q.hits.zones {
			zones = append(zones, name)
		}
		q.hits.mu.Unlock()
		for _, name := range zones {
			q.sampleHit(name)
		}
	}
}

// sampleHit samples one zone and counts a hit that began; it returns the
// zone's count.
func (q *Part) sampleHit(zone string) uint64 {
	h := &q.hits
	h.mu.Lock()
	z := h.zones[zone]
	h.mu.Unlock()
	if z == nil {
		return 0
	}
	// The probe runs outside the lock: a slow filesystem holds up this
	// zone only.
	f, err := z.probe.Fill()
	if err != nil {
		q.host.Logger().Debug("sample disk quota", "zone", zone, "err", err)
	}
	h.mu.Lock()
	if h.zones[zone] != z {
		h.mu.Unlock()
		// Stopped meanwhile: the probe was closed, and this sample may
		// have reopened what it keeps open. Closing is idempotent.
		z.probe.Close()
		return 0
	}
	hit := false
	switch {
	case err != nil:
	case f == quota.Clear:
		z.full = false
	case f == quota.Full && !z.full && !z.warned:
		z.full, hit = true, true
		z.count++
	}
	n := z.count
	h.mu.Unlock()
	if hit {
		q.emitHit(zone, n)
	}
	return n
}

// warned counts a refused write the kernel warned of, unless the zone's
// hit goes on (XFS warns of every refused write; ext4 once until use
// drops).
func (q *Part) warned(w quota.Warning) {
	if !w.Refused() {
		return
	}
	h := &q.hits
	h.mu.Lock()
	zone, ok := h.byKey[w.Key]
	z := h.zones[zone]
	if !ok || z == nil || z.full {
		h.mu.Unlock()
		return
	}
	z.full = true
	z.count++
	n := z.count
	h.mu.Unlock()
	q.emitHit(zone, n)
}

// errZoneNotRunning ends a save of hits of a zone that stopped meanwhile.
var errZoneNotRunning = errors.New("zone not running")

func (q *Part) emitHit(zone string, n uint64) {
	q.host.Logger().Info("zone hit its disk quota", "zone", zone, "hits", n)
	// Hits are rare; each costs a store write. max keeps a count that
	// two hits saved out of order.
	if _, err := q.host.Store().UpdateZone(zone, func(z *store.ZoneRecord) error {
		if z.State != api.StateRunning {
			return errZoneNotRunning
		}
		z.QuotaHits = max(z.QuotaHits, n)
		return nil
	}); err != nil && !errors.Is(err, errZoneNotRunning) {
		q.host.Logger().Warn("save the zone's disk quota hits", "zone", zone, "err", err)
	}
	q.host.Emit(api.EventZoneQuota, zone, api.StateRunning, fmt.Sprintf("the zone's disk is at its quota: a write was refused (%d time(s) since it started)", n))
}

// close stops the sampler and the kernel's warnings and frees the probes.
func (q *Part) Close() {
	h := &q.hits
	h.mu.Lock()
	stop, done, w := h.stop, h.done, h.warnings
	h.stop, h.done, h.warnings = nil, nil, nil
	for zone := range h.zones {
		h.forgetLocked(zone)
	}
	h.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if w != nil {
		w.Close()
	}
}
