//go:build linux

package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// BenchmarkScale is issue 17's "stay small at a thousand zones":
// ZONED_BENCH_ZONES (default 1000) busybox zones running, then the
// daemon's resident memory, GET /v1/zones, the stats of all zones, the
// zones' cgroup memory at rest, and the time from a daemon killed with
// SIGKILL until the new one has adopted every zone. Each figure is
// printed beside the goal; reported, never asserted.
func BenchmarkScale(b *testing.B) {
	n := benchZones(b, 1000)
	d := startDaemon(b)
	ctx := benchCtx(b)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sc%04d", i)
	}
	begin := time.Now()
	err := parallel(n, 8, func(i int) error {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: names[i], Template: "busybox"}); err != nil {
			return err
		}
		_, err := d.c.StartZone(ctx, names[i])
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	startAll := time.Since(begin)
	b.Cleanup(func() {
		_ = parallel(n, 8, func(i int) error { return d.c.DestroyZone(context.Background(), names[i], true) })
	})
	// Zones at rest: their inits have run their boot scripts.
	time.Sleep(2 * time.Second)

	timeIt := func(runs int, fn func() error) samples {
		var s samples
		for range runs {
			t0 := time.Now()
			if err := fn(); err != nil {
				b.Fatal(err)
			}
			s = append(s, time.Since(t0))
		}
		return s
	}
	rss := vmRSS(b, d.cmd.Process.Pid)
	anon, file := rssParts(b, d.cmd.Process.Pid)
	list := timeIt(20, func() error { _, err := d.c.ListZones(ctx); return err })
	stats := timeIt(10, func() error { _, err := d.c.AllStats(ctx); return err })
	var cgMem uint64
	for _, name := range names {
		u, _ := d.zoneMemory(b, name)
		cgMem += u
	}

	// A daemon killed -9 and started again adopts every running zone.
	d.kill9()
	t0 := time.Now()
	d.start()
	for {
		zones, err := d.c.ListZones(ctx)
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, z := range zones {
			if z.State == api.StateRunning && z.InitPID > 0 {
				running++
			}
		}
		if running == n {
			break
		}
		if time.Since(t0) > 5*time.Minute {
			b.Fatalf("%d of %d zones adopted after 5 minutes", running, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	adopt := time.Since(t0)
	// ZONED_SCALE_LOG=1 prints the daemon's log (without audit lines),
	// whose timestamps show where a restart's time goes.
	if os.Getenv("ZONED_SCALE_LOG") != "" {
		for _, l := range strings.Split(d.logs(), "\n") {
			if !strings.Contains(l, "audit") {
				fmt.Println(l)
			}
		}
	}
	rssAfter := vmRSS(b, d.cmd.Process.Pid)

	for b.Loop() {
		if _, err := d.c.ListZones(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(ms(list.median()), "list-ms")
	b.ReportMetric(ms(stats.median()), "stats-ms")
	b.ReportMetric(adopt.Seconds(), "adopt-s")
	report(b, `%d busybox zones running (started in %s):
| figure | zoned | goal (issue 17) |
|---|---:|---:|
| daemon RSS, zones started | %.1f MiB | ≤ 40 MiB |
| of which anonymous (heap, stacks) / file-backed (binary, store's mmap) | %.1f / %.1f MiB | |
| daemon RSS, after kill -9 and adoption | %.1f MiB | ≤ 40 MiB |
| GET /v1/zones, median of 20 | %.1f ms | ≤ 20 ms |
| stats of all zones, median of 10 | %.1f ms | ≤ 100 ms |
| kill -9 to all adopted | %.2f s | ≤ 2 s |
| cgroup memory per zone at rest | %.2f MiB | ≤ lxc's (benchpeers density) |
`, n, startAll.Round(time.Second), float64(rss)/(1<<20), float64(anon)/(1<<20), float64(file)/(1<<20), float64(rssAfter)/(1<<20), ms(list.median()), ms(stats.median()),
		adopt.Seconds(), float64(cgMem)/float64(n)/(1<<20))
}

// rssParts reads a process's resident memory split into anonymous
// (heap, stacks) and file-backed pages (its binary, mmapped files such
// as the store), in bytes: a goal on RSS is met differently for each.
func rssParts(b *testing.B, pid int) (anon, file uint64) {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var kb uint64
		if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &kb); err == nil {
			anon = kb << 10
		}
		if _, err := fmt.Sscanf(line, "RssFile: %d kB", &kb); err == nil {
			file = kb << 10
		}
	}
	return anon, file
}
