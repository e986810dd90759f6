//go:build linux

package integration

import (
	"fmt"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// BenchmarkStatsAllZones starts ZONED_BENCH_ZONES busybox zones (default
// 200) and times GET /v1/stats, the one call that reads every running
// zone's usage and fail counters: ns/op is that call, client decoding
// included (the aim is under 50 ms for 200 zones). It also reports the
// single-zone call for comparison.
func BenchmarkStatsAllZones(b *testing.B) {
	n := benchZones(b, 200)
	d := startDaemon(b)
	ctx := benchCtx(b)
	// Start the zones a few at a time: the host has few CPUs, and a start
	// is mostly waiting on the kernel.
	err := parallel(n, 4, func(i int) error {
		name := fmt.Sprintf("st%d", i)
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Resources: api.Resources{MemoryBytes: 64 << 20, PidsMax: 100}}); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if _, err := d.c.StartZone(ctx, name); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
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
