//go:build linux

package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/api"
)

func (s *Server) zoneStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.m.ZoneStats(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, st)
}

func (s *Server) allStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.m.AllStats(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if who := callerFrom(r.Context()); who.scoped() {
		kept := st[:0]
		for _, z := range st {
			if s.zoneVisible(r.Context(), who, z.Name) == nil {
				kept = append(kept, z)
			}
		}
		st = kept
	}
	writeJSON(w, 200, st)
}

// statsMetric is one per-zone family /metrics takes from the stats.
type statsMetric struct {
	name, typ, help string
	value           func(*api.ZoneStats) float64
	// sparse families leave out zones where the value is 0 (no limit,
	// or no quota backend to count).
	sparse bool
	// only, when set, leaves out the zones it refuses: a counter that
	// is 0 for some zones and meaningless for others.
	only func(*api.ZoneStats) bool
}

var statsMetrics = []statsMetric{
	{"zoned_zone_swap_bytes", "gauge", "Swap a running zone uses.", func(s *api.ZoneStats) float64 { return float64(s.SwapBytes) }, false, nil},
	{"zoned_zone_memory_failures_total", "counter", "Times a running zone hit its memory limit (v1 failcnt, v2 memory.events max).", func(s *api.ZoneStats) float64 { return float64(s.Fails.Memory) }, false, nil},
	{"zoned_zone_oom_kills_total", "counter", "Processes the OOM killer killed in a running zone.", func(s *api.ZoneStats) float64 { return float64(s.Fails.OOMKills) }, false, nil},
	{"zoned_zone_fork_failures_total", "counter", "Forks a running zone's process limit refused.", func(s *api.ZoneStats) float64 { return float64(s.Fails.Forks) }, false, nil},
	{"zoned_zone_cpu_throttled_periods_total", "counter", "CFS periods in which the CPU limit held a running zone back.", func(s *api.ZoneStats) float64 { return float64(s.Fails.CPUThrottledPeriods) }, false, nil},
	{"zoned_zone_cpu_throttled_seconds_total", "counter", "Time the CPU limit held a running zone back.", func(s *api.ZoneStats) float64 { return float64(s.Fails.CPUThrottledNanos) / 1e9 }, false, nil},
	{"zoned_zone_io_read_bytes_total", "counter", "Bytes a running zone read from block devices.", func(s *api.ZoneStats) float64 { return float64(s.IOReadBytes) }, false, nil},
	{"zoned_zone_io_write_bytes_total", "counter", "Bytes a running zone wrote to block devices.", func(s *api.ZoneStats) float64 { return float64(s.IOWriteBytes) }, false, nil},
	{"zoned_zone_io_read_ops_total", "counter", "Block read operations of a running zone.", func(s *api.ZoneStats) float64 { return float64(s.IOReadOps) }, false, nil},
	{"zoned_zone_io_write_ops_total", "counter", "Block write operations of a running zone.", func(s *api.ZoneStats) float64 { return float64(s.IOWriteOps) }, false, nil},
	{"zoned_zone_network_receive_bytes_total", "counter", "Bytes a running zone's interfaces received (loopback left out).", func(s *api.ZoneStats) float64 { return float64(s.NetRxBytes) }, false, nil},
	{"zoned_zone_network_transmit_bytes_total", "counter", "Bytes a running zone's interfaces sent (loopback left out).", func(s *api.ZoneStats) float64 { return float64(s.NetTxBytes) }, false, nil},
	{"zoned_zone_disk_bytes", "gauge", "Disk a running zone's own layer uses, where its quota backend counts it.", func(s *api.ZoneStats) float64 { return float64(s.DiskBytes) }, true, nil},
	{"zoned_zone_disk_limit_bytes", "gauge", "Disk quota of a running zone.", func(s *api.ZoneStats) float64 { return float64(s.DiskLimitBytes) }, true, nil},
	// 0 is a count for a zone with a quota, and no count for one without.
	{name: "zoned_zone_quota_failures_total", typ: "counter", help: "Times a running zone ran into its disk quota (zones without a quota are left out).",
		value: func(s *api.ZoneStats) float64 { return float64(s.Fails.Quota) }, only: func(s *api.ZoneStats) bool { return s.DiskLimitBytes > 0 }},
}

// writeStatsMetrics adds the per-zone fail counters, IO and network
// families to /metrics. A failure to read stats leaves them out rather
// than failing the scrape.
func (s *Server) writeStatsMetrics(b *strings.Builder, r *http.Request, family func(name, typ, help string), visible func(zone string) bool) {
	all, err := s.m.AllStats(r.Context())
	if err != nil {
		s.log.Warn("metrics: zone stats", "err", err)
		return
	}
	for _, m := range statsMetrics {
		family(m.name, m.typ, m.help)
		for i := range all {
			v := m.value(&all[i])
			if (m.sparse && v == 0) || (m.only != nil && !m.only(&all[i])) || !visible(all[i].Name) {
				continue
			}
			fmt.Fprintf(b, "%s{zone=\"%s\"} %s\n", m.name, label(all[i].Name), strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
}
