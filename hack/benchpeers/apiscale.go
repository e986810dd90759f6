//go:build linux

package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
)

// apiScale measures the API with many zones: list and show latency with M
// stopped zones, then K creates at once. zoned only: the peers have no
// API of this kind to compare (lxc-ls reads a directory).
func (b *Bench) apiScale(ctx context.Context) error {
	z := b.zoned
	m, k := b.cfg.APIZones, b.cfg.APIConcurrent
	sc := fmt.Sprintf("5 API, %d zones", m)
	if _, err := z.ensureTemplate(ctx, api.CreateTemplateRequest{Name: "busybox", From: "builtin"}); err != nil {
		return err
	}
	var mu sync.Mutex
	var names []string
	defer func() {
		// Four at a time: fast enough, and kind to a shared machine.
		ch := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range ch {
					_ = z.c.DestroyZone(context.Background(), name, true)
				}
			}()
		}
		for _, n := range names {
			ch <- n
		}
		close(ch)
		wg.Wait()
	}()
	for i := 0; i < m && ctx.Err() == nil; i++ {
		name := fmt.Sprintf("api-%04d", i)
		if _, err := z.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox"}); err != nil {
			return err
		}
		names = append(names, name)
	}
	runs := b.cfg.Runs
	var list, show []time.Duration
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		begin := time.Now()
		zs, err := z.c.ListZones(ctx)
		if err != nil {
			return err
		}
		list = append(list, time.Since(begin))
		if len(zs) < m {
			return fmt.Errorf("list returned %d zones, want %d", len(zs), m)
		}
	}
	for i := 0; i < runs*5 && ctx.Err() == nil; i++ {
		begin := time.Now()
		if _, err := z.c.GetZone(ctx, names[(i*7919)%len(names)]); err != nil {
			return err
		}
		show = append(show, time.Since(begin))
	}
	b.res.durations(sc, "list (GET /v1/zones, all zones)", "zoned", list, "zoned only: the peers have no such API")
	b.res.durations(sc, "show (GET /v1/zones/{name})", "zoned", show, "zoned only")

	// K creates at once, on top of the M zones.
	lat := make([]time.Duration, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("conc-%03d", i)
			t := time.Now()
			_, err := z.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox"})
			lat[i], errs[i] = time.Since(t), err
			if err == nil {
				mu.Lock()
				names = append(names, name)
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	wall := time.Since(begin)
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("concurrent create: %w", err)
		}
	}
	b.res.durations(sc, fmt.Sprintf("%d concurrent creates: latency of each", k), "zoned", lat, "zoned only")
	b.res.durations(sc, fmt.Sprintf("%d concurrent creates: all done", k), "zoned", []time.Duration{wall}, "zoned only; one wall-clock figure")
	return ctx.Err()
}
