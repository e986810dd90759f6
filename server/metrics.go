//go:build linux

package server

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/zoned-project/zoned/api"
)

// requestCounts counts API calls by method and status, for /metrics.
type requestCounts struct {
	mu sync.Mutex
	n  map[[2]string]uint64
}

func (c *requestCounts) add(method string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[[2]string]uint64{}
	}
	// Only the methods the API knows, so a caller sending made-up
	// methods cannot grow the map without bound.
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		method = "other"
	}
	c.n[[2]string{method, strconv.Itoa(status)}]++
}

// metrics serves Prometheus' text format: per running zone its usage as
// the zone list shows it, zones by state, and the daemon's own figures.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	zones, err := s.m.ListZones(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	// A scoped client's metrics are its zones' only: no other tenant's
	// zone, and none of the daemon's own figures.
	who := callerFrom(r.Context())
	visible := map[string]bool{}
	kept := zones[:0]
	for _, z := range zones {
		if who.sees(z.Labels) {
			kept = append(kept, z)
			visible[z.Name] = true
		}
	}
	zones = kept
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	type usage struct {
		name string
		u    *api.Usage
	}
	var running []usage
	byState := map[api.ZoneState]int{}
	for _, z := range zones {
		byState[z.State]++
		if z.Usage != nil {
			running = append(running, usage{z.Name, z.Usage})
		}
	}
	sort.Slice(running, func(i, j int) bool { return running[i].name < running[j].name })

	family("zoned_zone_memory_bytes", "gauge", "Memory a running zone uses, page cache included.")
	for _, z := range running {
		fmt.Fprintf(&b, "zoned_zone_memory_bytes{zone=\"%s\"} %d\n", label(z.name), z.u.MemoryBytes)
	}
	family("zoned_zone_memory_limit_bytes", "gauge", "Memory limit of a running zone (zones without a limit are left out).")
	for _, z := range running {
		if z.u.MemoryLimitBytes > 0 {
			fmt.Fprintf(&b, "zoned_zone_memory_limit_bytes{zone=\"%s\"} %d\n", label(z.name), z.u.MemoryLimitBytes)
		}
	}
	family("zoned_zone_processes", "gauge", "Tasks in a running zone.")
	for _, z := range running {
		fmt.Fprintf(&b, "zoned_zone_processes{zone=\"%s\"} %d\n", label(z.name), z.u.Processes)
	}
	family("zoned_zone_cpu_seconds_total", "counter", "CPU time a running zone used since it started.")
	for _, z := range running {
		fmt.Fprintf(&b, "zoned_zone_cpu_seconds_total{zone=\"%s\"} %s\n", label(z.name), strconv.FormatFloat(float64(z.u.CPUNanos)/1e9, 'f', -1, 64))
	}
	s.writeStatsMetrics(&b, r, family, func(zone string) bool { return visible[zone] })
	family("zoned_zones", "gauge", "Zones by state.")
	for _, st := range []api.ZoneState{api.StateCreating, api.StateStopped, api.StateStarting, api.StateRunning, api.StateStopping, api.StateDestroying} {
		fmt.Fprintf(&b, "zoned_zones{state=\"%s\"} %d\n", st, byState[st])
	}
	if who.scoped() {
		_, _ = io.WriteString(w, b.String())
		return
	}
	family("zoned_goroutines", "gauge", "Goroutines in the daemon.")
	fmt.Fprintf(&b, "zoned_goroutines %d\n", runtime.NumGoroutine())
	family("zoned_event_streams", "gauge", "Event streams (GET /v1/events) open now.")
	fmt.Fprintf(&b, "zoned_event_streams %d\n", s.streams.open())
	family("zoned_api_requests_total", "counter", "API requests answered, by method and status code.")
	s.requests.mu.Lock()
	keys := make([][2]string, 0, len(s.requests.n))
	for k := range s.requests.n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "zoned_api_requests_total{method=\"%s\",code=\"%s\"} %d\n", k[0], k[1], s.requests.n[k])
	}
	s.requests.mu.Unlock()
	s.writeOperations(r.Context(), &b)
	s.latency.write(&b)
	_, _ = io.WriteString(w, b.String())
}

// label escapes a label value as the text format wants.
func label(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
