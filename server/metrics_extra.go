//go:build linux

package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// latencyBuckets are the histogram's upper bounds in seconds: from a
// cached list (a millisecond) to a zone stop that waits for its guest.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// latencies is a histogram of API request durations per route. Routes
// come from the route table (the mux's pattern), so the label set is
// bounded whatever paths clients send.
type latencies struct {
	mu     sync.Mutex
	routes map[string]*histogram
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; one more for +Inf
	sum    float64
	n      uint64
}

func (l *latencies) observe(route string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.routes == nil {
		l.routes = map[string]*histogram{}
	}
	h := l.routes[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		l.routes[route] = h
	}
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, sec)
	h.counts[i]++
	h.sum += sec
	h.n++
}

// write adds the histogram family to b.
func (l *latencies) write(b *strings.Builder) {
	fmt.Fprintf(b, "# HELP zoned_api_request_duration_seconds Time to answer an API request, by route (streams count until they end).\n# TYPE zoned_api_request_duration_seconds histogram\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	routes := make([]string, 0, len(l.routes))
	for r := range l.routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		h := l.routes[r]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(b, "zoned_api_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %d\n", label(r), strconv.FormatFloat(le, 'f', -1, 64), cum)
		}
		fmt.Fprintf(b, "zoned_api_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %d\n", label(r), h.n)
		fmt.Fprintf(b, "zoned_api_request_duration_seconds_sum{route=\"%s\"} %s\n", label(r), strconv.FormatFloat(h.sum, 'f', -1, 64))
		fmt.Fprintf(b, "zoned_api_request_duration_seconds_count{route=\"%s\"} %d\n", label(r), h.n)
	}
}

// writeOperations adds operations by kind and status to b.
func (s *Server) writeOperations(ctx context.Context, b *strings.Builder) {
	ops, err := s.m.ListOperations(ctx)
	if err != nil {
		s.log.Warn("metrics: list operations", "err", err)
		return
	}
	type key struct{ kind, status string }
	n := map[key]int{}
	for _, op := range ops {
		n[key{op.Kind, string(op.Status)}]++
	}
	keys := make([]key, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].kind < keys[j].kind || keys[i].kind == keys[j].kind && keys[i].status < keys[j].status
	})
	fmt.Fprintf(b, "# HELP zoned_operations Operations the daemon keeps (running, and finished in the last week), by kind and status.\n# TYPE zoned_operations gauge\n")
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k.status] = true
	}
	for _, st := range []api.OperationStatus{api.OperationRunning, api.OperationSuccess, api.OperationFailure, api.OperationCancelled} {
		if !seen[string(st)] {
			// Every status has a series, so an alert on failures
			// sees 0 rather than nothing.
			fmt.Fprintf(b, "zoned_operations{kind=\"\",status=\"%s\"} 0\n", st)
		}
	}
	for _, k := range keys {
		fmt.Fprintf(b, "zoned_operations{kind=\"%s\",status=\"%s\"} %d\n", label(k.kind), label(k.status), n[k])
	}
}

// ServeMetrics serves GET /metrics, and nothing else of the API, on l (a
// TCP address for Prometheus, which cannot reach the Unix socket) until
// ctx ends. The socket's access rules do not apply here: the metrics say
// which zones exist and what they use, so bind it to an address only the
// monitoring can reach.
func (s *Server) ServeMetrics(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.metricsMux(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	return serveUntilDone(ctx, hs, l, 5*time.Second)
}

// metricsMux is what ServeMetrics serves.
func (s *Server) metricsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		methodNotAllowed(w, r, []string{"GET"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("only GET /metrics is served on this address: %w", errdefs.ErrNotFound))
	})
	return mux
}
