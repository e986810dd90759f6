package integration

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// BenchmarkStatsAllZones starts ZONED_BENCH_ZONES busybox zones (default
// 200) and times GET /v1/stats, the one call that reads every running
// zone's usage and fail counters: ns/op is that call, client decoding
// included (the aim is under 50 ms for 200 zones). It also reports the
// single-zone call for comparison.
func BenchmarkStatsAllZones(b *testing.B) {
	n := 200
	if s := os.Getenv("ZONED_BENCH_ZONES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("ZONED_BENCH_ZONES=%q is not a positive number", s)
		}
		n = v
	}
	d := startDaemon(b)
	ctx := benchCtx(b)
	// Start the zones a few at a time: the host has few CPUs, and a start
	// is mostly waiting on the kernel.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("st%d", i)
			if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Resources: api.Resources{MemoryBytes: 64 << 20, PidsMax: 100}}); err != nil {
				b.Errorf("create %s: %v", name, err)
				return
			}
			if _, err := d.c.StartZone(ctx, name); err != nil {
				b.Errorf("start %s: %v", name, err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	all, err := d.c.AllStats(ctx)
	if err != nil || len(all) != n {
		b.Fatalf("stats of %d zones: got %d, %v", n, len(all), err)
	}
	for b.Loop() {
		all, err := d.c.AllStats(ctx)
		if err != nil || len(all) != n {
			b.Fatalf("stats: %d zones, %v", len(all), err)
		}
	}
	b.ReportMetric(float64(n), "zones")
}
