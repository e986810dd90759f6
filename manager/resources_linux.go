package manager

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/internal/units"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/store"
)

// applyIOPatch copies the IO fields a patch sets onto res.
func applyIOPatch(res *api.Resources, p *api.ResourcesPatch) {
	if p == nil {
		return
	}
	for _, f := range []struct {
		dst *int64
		src *int64
	}{{&res.IOReadBPS, p.IOReadBPS}, {&res.IOWriteBPS, p.IOWriteBPS}, {&res.IOReadIOPS, p.IOReadIOPS}, {&res.IOWriteIOPS, p.IOWriteIOPS}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if p.IOWeight != nil {
		res.IOWeight = *p.IOWeight
	}
}

// setBlockIO adds a zone's IO weight and caps to its cgroup resources.
// The caps throttle the block device under the zone's own writable layer
// (see cgroups.DeviceOf): all of the zone's reads and writes that reach a
// disk there, whoever else shares that disk. Reads served from the shared
// template that lives on another device are not capped.
func (m *Manager) setBlockIO(zone string, r api.Resources, res *specs.LinuxResources) error {
	var dev *cgroups.Device
	if cgroups.HasIOCaps(r) || r.IOWeight > 0 {
		d, err := cgroups.DeviceOf(m.zoneIODir(zone))
		if err != nil {
			return errdefs.WithField("resources", fmt.Errorf("limit block IO: %w", err))
		}
		dev = &d
	}
	cgroups.SetBlockIO(res, r, dev)
	if err := cgroups.CheckIOWeight(res); err != nil {
		return errdefs.WithField("resources", err)
	}
	return nil
}

// zoneIODir is the directory whose device holds the zone's writes: its
// writable layer where the storage has one there, else its directory.
func (m *Manager) zoneIODir(zone string) string {
	dir := m.fs.ZoneDir(zone)
	if _, err := os.Stat(filepath.Join(dir, "upper")); err == nil {
		return filepath.Join(dir, "upper")
	}
	return dir
}

// resourcePart watches each running zone's cgroup for OOM kills and
// publishes them as events, and remembers CPU samples for CPU percent.
type resourcePart struct {
	part.Base
	host part.Host

	mu       sync.Mutex
	watches  map[string]*cgroups.OOMWatch
	cpuLast  map[string]cpuSample
	cpuPrior map[string]float64
	// started is when each watched zone's current run began.
	started map[string]time.Time
}

// cpuSample is a zone's CPU time at a moment.
type cpuSample struct {
	nanos uint64
	at    time.Time
}

// cpuWindow is the shortest window CPU percent is measured over; reads
// closer together repeat the last figure.
const cpuWindow = time.Second

func newResourcePart(host part.Host) *resourcePart {
	return &resourcePart{host: host, watches: map[string]*cgroups.OOMWatch{}, cpuLast: map[string]cpuSample{}, cpuPrior: map[string]float64{}, started: map[string]time.Time{}}
}

func (p *resourcePart) Name() string { return "resources" }

// start begins watching for OOM kills before the guest's init runs, so no
// kill is missed. A watch that cannot be set up is logged, not fatal: the
// zone runs under its limits either way, only the events are lost.
func (p *resourcePart) Start(ctx context.Context, rec *store.ZoneRecord, pid int, r *revert.Reverter) error {
	r.Add(func() { p.unwatch(rec.Name) })
	if err := p.watch(rec.Name, time.Now().UTC()); err != nil {
		p.host.Logger().Warn("cannot watch zone for OOM kills", "zone", rec.Name, "err", err)
	}
	return nil
}

func (p *resourcePart) Stopped(rec *store.ZoneRecord) {
	p.unwatch(rec.Name)
	if rec.InitPID > 0 {
		kfile.Forget("/proc/" + strconv.Itoa(rec.InitPID))
	}
}

func (p *resourcePart) Destroy(rec *store.ZoneRecord) error {
	p.unwatch(rec.Name)
	return nil
}

// reconcile watches the zones adopted after a daemon restart.
func (p *resourcePart) Reconcile(ctx context.Context, recs []*store.ZoneRecord) error {
	for _, rec := range recs {
		if rec.State != api.StateRunning {
			continue
		}
		started := rec.CreatedAt
		if rec.StartedAt != nil {
			started = *rec.StartedAt
		}
		if err := p.watch(rec.Name, started); err != nil {
			// The zone runs on; only its OOM events are lost.
			p.host.Logger().Warn("cannot watch adopted zone for OOM kills", "zone", rec.Name, "err", err)
		}
	}
	return nil
}

func (p *resourcePart) watch(zone string, started time.Time) error {
	p.unwatch(zone)
	limit := func() string {
		st, err := cgroups.ReadStats(p.host.CgroupPath(zone))
		if err != nil || st.MemoryLimit == 0 {
			return "no memory limit"
		}
		return "memory limit " + units.FormatBytes(int64(st.MemoryLimit))
	}
	w, err := cgroups.WatchOOM(p.host.CgroupPath(zone), func(n, total uint64) {
		msg := fmt.Sprintf("OOM killer killed %d process(es) in the zone (%d since it started; %s)", n, total, limit())
		p.host.Logger().Warn("OOM kill in zone", "zone", zone, "killed", n, "total", total)
		p.host.Emit(api.EventZoneOOM, zone, api.StateRunning, msg)
	})
	if err != nil {
		return fmt.Errorf("watch for OOM kills: %w", err)
	}
	p.mu.Lock()
	p.watches[zone] = w
	p.started[zone] = started
	p.mu.Unlock()
	p.host.Logger().Debug("watching zone for OOM kills", "zone", zone)
	return nil
}

func (p *resourcePart) unwatch(zone string) {
	p.mu.Lock()
	w := p.watches[zone]
	delete(p.watches, zone)
	delete(p.cpuLast, zone)
	delete(p.cpuPrior, zone)
	delete(p.started, zone)
	p.mu.Unlock()
	if w != nil {
		w.Stop()
	}
}

// startedAt is when zone's current run began, nil when unknown.
func (p *resourcePart) startedAt(zone string) *time.Time {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.started[zone]; ok {
		return &t
	}
	return nil
}

// cpuPercent turns a zone's CPU time now into percent of one CPU over the
// window since the last sample (see api.ZoneStats.CPUPercent).
func (p *resourcePart) cpuPercent(zone string, nanos uint64, now time.Time, started *time.Time) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	last, ok := p.cpuLast[zone]
	if !ok {
		if started == nil {
			p.cpuLast[zone] = cpuSample{nanos, now}
			return 0
		}
		last = cpuSample{0, *started}
	}
	elapsed := now.Sub(last.at)
	if ok && elapsed < cpuWindow {
		return p.cpuPrior[zone]
	}
	pct := 0.0
	if elapsed > 0 && nanos >= last.nanos {
		pct = float64(nanos-last.nanos) / float64(elapsed.Nanoseconds()) * 100
	}
	pct = float64(int64(pct*10+0.5)) / 10
	p.cpuLast[zone] = cpuSample{nanos, now}
	p.cpuPrior[zone] = pct
	return pct
}

// resources returns the manager's resource part.
func (m *Manager) resources() *resourcePart {
	for _, p := range m.parts {
		if rp, ok := p.(*resourcePart); ok {
			return rp
		}
	}
	return nil
}

// ZoneStats returns a running zone's usage and fail counters.
func (m *Manager) ZoneStats(ctx context.Context, name string) (*api.ZoneStats, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	rec, err := m.store.GetZone(name)
	if err != nil {
		return nil, fmt.Errorf("stats of zone %q: %w", name, err)
	}
	if rec.State != api.StateRunning {
		return nil, fmt.Errorf("stats of zone %q: zone is %s, not running: %w", name, rec.State, errdefs.ErrConflict)
	}
	var pid int
	if rz := m.runtime(name); rz != nil {
		pid = rz.pid
	}
	st, err := m.zoneStats(name, pid, rec.StartedAt)
	if err != nil {
		return nil, fmt.Errorf("stats of zone %q: %w", name, err)
	}
	return st, nil
}

// AllStats returns the stats of every running zone, sorted by name. It
// takes the running zones from the manager's own table, not the store
// (decoding every record's spec cost more than reading every zone's
// counters), and reads the zones in parallel straight from their cgroup
// files; a zone that stops meanwhile is left out.
func (m *Manager) AllStats(ctx context.Context) ([]api.ZoneStats, error) {
	type ref struct {
		name string
		pid  int
	}
	m.mu.Lock()
	running := make([]ref, 0, len(m.running))
	for name, rz := range m.running {
		running = append(running, ref{name, rz.pid})
	}
	m.mu.Unlock()
	sort.Slice(running, func(i, j int) bool { return running[i].name < running[j].name })
	rp := m.resources()
	out := make([]*api.ZoneStats, len(running))
	workers := min(len(running), 4*runtime.GOMAXPROCS(0))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				z := running[i]
				st, err := m.zoneStats(z.name, z.pid, rp.startedAt(z.name))
				if err != nil {
					m.log.Debug("stats of zone", "zone", z.name, "err", err)
					continue
				}
				out[i] = st
			}
		}()
	}
	for i := range running {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := make([]api.ZoneStats, 0, len(out))
	for _, st := range out {
		if st != nil {
			res = append(res, *st)
		}
	}
	return res, nil
}

// zoneStats reads one running zone's counters; started is when its
// current run began (for the first CPU percent), nil when unknown.
func (m *Manager) zoneStats(name string, pid int, started *time.Time) (*api.ZoneStats, error) {
	cg, err := m.cg.ReadStats(m.cgroupPath(name))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	st := &api.ZoneStats{
		Name: name, State: api.StateRunning, Time: now,
		CPUNanos:    cg.CPUUsageNanos,
		MemoryBytes: cg.MemoryUsage, MemoryLimitBytes: cg.MemoryLimit, SwapBytes: cg.SwapUsage,
		Processes: cg.Pids, ProcessesLimit: cg.PidsLimit,
		IOReadBytes: cg.IOReadBytes, IOWriteBytes: cg.IOWriteBytes, IOReadOps: cg.IOReadOps, IOWriteOps: cg.IOWriteOps,
		Fails: api.ZoneFails{
			Memory: cg.MemoryFailcnt, OOMKills: cg.OOMKills, Forks: cg.PidsFailcnt,
			CPUThrottledPeriods: cg.ThrottledPeriods, CPUThrottledNanos: cg.ThrottledNanos,
		},
	}
	if rp := m.resources(); rp != nil {
		st.CPUPercent = rp.cpuPercent(name, cg.CPUUsageNanos, now, started)
	}
	if pid > 0 {
		// /proc/PID/net/dev shows the network namespace of PID, the
		// zone's, read from the host without entering it.
		if err := readNetDev(pid, st); err != nil && !kfile.IsNotExist(err) {
			return nil, err
		}
	}
	for _, p := range m.parts {
		if f, ok := p.(part.StatsFiller); ok {
			f.FillStats(name, st)
		}
	}
	return st, nil
}

// readNetDev sums the counters of every interface but loopback in
// /proc/PID/net/dev.
func readNetDev(pid int, st *api.ZoneStats) error {
	b, err := kfile.Read("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		iface, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(iface) == "lo" {
			continue
		}
		fl := strings.Fields(rest)
		if len(fl) < 10 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(fl[i], 10, 64); return v }
		// receive: bytes packets errs drop fifo frame compressed
		// multicast; transmit: bytes packets ...
		st.NetRxBytes += n(0)
		st.NetRxPackets += n(1)
		st.NetTxBytes += n(8)
		st.NetTxPackets += n(9)
	}
	return nil
}

// After: the quota makes the zone's directory before anything of the zone
// exists, so resources come after it (and are undone before it).
func (*resourcePart) After() []string { return []string{"disk quota"} }
