//go:build linux

package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// The API benchmarks of issue 6: list and show latency with many zones in
// the store, and the throughput of concurrent creates. Figures are
// reported, not asserted.

// benchZones is how many zones a benchmark makes: ZONED_BENCH_ZONES (the
// CI smoke run sets a few), else def.
func benchZones(b *testing.B, def int) int {
	if s := os.Getenv("ZONED_BENCH_ZONES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("ZONED_BENCH_ZONES=%q is not a positive number", s)
		}
		return v
	}
	return def
}

// parallel runs fn(i) for i in 0..n-1 on workers goroutines and returns
// the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func (d *daemon) createZones(ctx context.Context, names []string, workers int) error {
	return parallel(len(names), workers, func(i int) error {
		_, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: names[i], Template: "busybox",
			Labels: map[string]string{"customer": fmt.Sprintf("c%d", i%50)}})
		return err
	})
}

func (d *daemon) destroyZones(ctx context.Context, names []string, workers int) error {
	return parallel(len(names), workers, func(i int) error { return d.c.DestroyZone(ctx, names[i], true) })
}

// BenchmarkAPIList measures GET /v1/zones (all zones), a filtered list,
// and GET /v1/zones/{name} through the client on the socket, with
// ZONED_BENCH_ZONES (default 1000) stopped zones created through the API.
func BenchmarkAPIList(b *testing.B) {
	n := benchZones(b, 1000)
	d := startDaemon(b)
	ctx := benchCtx(b)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("z%05d", i)
	}
	begin := time.Now()
	if err := d.createZones(ctx, names, 8); err != nil {
		b.Fatal(err)
	}
	fill := time.Since(begin)
	b.Cleanup(func() {
		if err := d.destroyZones(context.Background(), names, 8); err != nil {
			b.Errorf("destroy: %v", err)
		}
	})

	run := func(name string, fn func(i int)) samples {
		var s samples
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				t := time.Now()
				fn(i)
				s = append(s, time.Since(t))
				i++
			}
		})
		return s
	}
	data := map[string]samples{
		"list all": run("list", func(int) {
			zones, err := d.c.ListZones(ctx)
			if err != nil || len(zones) != n {
				b.Fatalf("list: %d zones, %v", len(zones), err)
			}
		}),
		"list ?label=customer=c7": run("list-label", func(int) {
			if _, _, err := d.c.ListZonesPage(ctx, api.ZoneListOptions{Labels: map[string]string{"customer": "c7"}}); err != nil {
				b.Fatal(err)
			}
		}),
		"list ?limit=50": run("list-page", func(int) {
			if _, _, err := d.c.ListZonesPage(ctx, api.ZoneListOptions{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}),
		"show": run("show", func(i int) {
			if _, err := d.c.GetZone(ctx, names[(i*7919)%n]); err != nil {
				b.Fatal(err)
			}
		}),
	}
	report(b, "API latency with %d stopped zones in the store (through the Go client on the socket):\n\n%s\n"+
		"filling the store: %d creates, 8 at a time, %.1f s (%.1f creates/s)\n",
		n, table([]string{"list all", "list ?label=customer=c7", "list ?limit=50", "show"}, data),
		n, fill.Seconds(), float64(n)/fill.Seconds())
}

// BenchmarkAPIConcurrentCreate measures 100 creates sent at once (each
// iteration creates them, then destroys them untimed).
func BenchmarkAPIConcurrentCreate(b *testing.B) {
	const n = 100
	d := startDaemon(b)
	ctx := benchCtx(b)
	// The built-in template is built on first use: not part of the figure.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "warm", Template: "busybox"}); err != nil {
		b.Fatal(err)
	}
	var per samples
	iter := 0
	for b.Loop() {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("cc%d-%d", iter, i)
		}
		iter++
		begin := time.Now()
		if err := d.createZones(ctx, names, n); err != nil {
			b.Fatal(err)
		}
		per = append(per, time.Since(begin))
		b.StopTimer()
		if err := d.destroyZones(ctx, names, 8); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	med := per.median()
	b.ReportMetric(float64(n)/med.Seconds(), "creates/s")
	report(b, "%d concurrent creates: median %.2f s for all (%.1f creates/s), min %.2f s, max %.2f s, %d runs\n",
		n, med.Seconds(), float64(n)/med.Seconds(), per.min().Seconds(), per.max().Seconds(), len(per))
}
