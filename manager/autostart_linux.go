package manager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// Autostart tuning. A boot with hundreds of autostart zones must not start
// them all at once (each start forks a helper and builds a root), nor one
// by one; a zone that fails is tried again a few times, since what it
// lacked at boot (a mount, a device) often comes a moment later.
const (
	autostartParallel = 4
	autostartAttempts = 3
	autostartBackoff  = time.Second // doubled after each failed attempt
	// shutdownParallel bounds the stops of one priority at host shutdown;
	// stops mostly wait for guests, so it is wider.
	shutdownParallel = 16
)

// autostart starts the zones marked autostart when the host has booted
// since the daemon last ran; a mere daemon restart starts nothing (those
// zones are still running, or were stopped on purpose). Zones start by
// priority, highest first, up to autostartParallel at once within a
// priority; after a priority group the largest autostart delay of its
// zones passes before the next group. The boot is marked as handled only
// when every zone has been tried, so a daemon that dies half way resumes.
func (m *Manager) autostart(ctx context.Context) {
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return
	}
	marker := filepath.Join(m.cfg.DataDir, "boot_id")
	last, _ := os.ReadFile(marker)
	if strings.TrimSpace(string(last)) == strings.TrimSpace(string(bootID)) {
		return
	}
	if len(last) == 0 {
		// First run of zoned on this host: nothing was running before.
		m.writeBootMarker(marker, bootID)
		return
	}
	recs, err := m.store.ListZones()
	if err != nil {
		m.log.Error("autostart: list zones", "err", err)
		return
	}
	recs = slices.DeleteFunc(recs, func(r *store.ZoneRecord) bool { return !r.Autostart || r.State != api.StateStopped })
	// Highest priority first; names break ties so the order is stable.
	slices.SortFunc(recs, func(a, b *store.ZoneRecord) int {
		return cmp.Or(cmp.Compare(b.AutostartPriority, a.AutostartPriority), strings.Compare(a.Name, b.Name))
	})
	if len(recs) > 0 {
		m.log.Info("host booted since zoned last ran: autostarting zones", "zones", len(recs))
	}
	for _, group := range byPriority(recs) {
		sem := make(chan struct{}, autostartParallel)
		var wg sync.WaitGroup
		delay := 0
		for _, rec := range group {
			delay = max(delay, rec.AutostartDelaySeconds)
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-sem }()
				m.autostartZone(ctx, rec.Name)
			}()
		}
		wg.Wait()
		if !sleepCtx(ctx, time.Duration(delay)*time.Second) {
			return
		}
	}
	if ctx.Err() == nil {
		m.writeBootMarker(marker, bootID)
	}
}

func (m *Manager) writeBootMarker(marker string, bootID []byte) {
	if err := os.WriteFile(marker, bootID, 0o600); err != nil {
		m.log.Warn("autostart: write boot marker", "path", marker, "err", err)
	}
}

// byPriority splits zones sorted by priority into runs of equal priority.
func byPriority(recs []*store.ZoneRecord) [][]*store.ZoneRecord {
	var groups [][]*store.ZoneRecord
	for i, r := range recs {
		if i == 0 || r.AutostartPriority != recs[i-1].AutostartPriority {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], r)
	}
	return groups
}

// autostartZone starts one zone, trying again with backoff; a zone that
// still fails is left stopped with the reason in its LastExit.
func (m *Manager) autostartZone(ctx context.Context, name string) {
	backoff := autostartBackoff
	var err error
	for attempt := 1; attempt <= autostartAttempts; attempt++ {
		if _, err = m.StartZone(ctx, name); err == nil {
			m.log.Info("autostarted zone", "zone", name, "attempt", attempt)
			return
		}
		if errors.Is(err, errdefs.ErrConflict) || errors.Is(err, errdefs.ErrNotFound) {
			return // started, stopped or destroyed by a call meanwhile
		}
		m.log.Warn("autostart attempt failed", "zone", name, "attempt", attempt, "of", autostartAttempts, "err", err)
		if attempt < autostartAttempts && !sleepCtx(ctx, backoff) {
			return
		}
		backoff *= 2
	}
	m.log.Error("autostart failed", "zone", name, "attempts", autostartAttempts, "err", err)
	unlock := m.lock(name)
	defer unlock()
	if _, uerr := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		if z.State == api.StateStopped {
			z.LastExit = "autostart failed: " + err.Error()
		}
		return nil
	}); uerr != nil {
		m.log.Warn("record autostart failure", "zone", name, "err", uerr)
	}
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopAutostart ends a running autostart and waits for it.
func (m *Manager) stopAutostart() {
	if m.autostartCancel == nil {
		return
	}
	m.autostartCancel()
	<-m.autostartDone
}

// ShutdownZones stops every running zone gracefully because the host is
// going down: lowest autostart priority first (the reverse of the boot
// order), zones of one priority in parallel, each with req's timeout
// before it is killed. An autostart still running is ended first. Zones
// stopped here are left stopped with autostart intact, so they come back
// at the next boot.
func (m *Manager) ShutdownZones(ctx context.Context, req api.HostShutdownRequest) (*api.HostShutdownResult, error) {
	if req.TimeoutSeconds < 0 {
		return nil, errdefs.WithField("timeout_seconds", fmt.Errorf("timeout %d s is negative: %w", req.TimeoutSeconds, errdefs.ErrInvalid))
	}
	m.stopAutostart()
	recs, err := m.store.ListZones()
	if err != nil {
		return nil, err
	}
	recs = slices.DeleteFunc(recs, func(r *store.ZoneRecord) bool {
		return r.State != api.StateRunning && r.State != api.StateStarting
	})
	slices.SortFunc(recs, func(a, b *store.ZoneRecord) int {
		return cmp.Or(cmp.Compare(a.AutostartPriority, b.AutostartPriority), strings.Compare(a.Name, b.Name))
	})
	m.log.Info("host shutdown: stopping zones", "zones", len(recs))
	res := &api.HostShutdownResult{Zones: []api.ZoneShutdown{}}
	var mu sync.Mutex
	for _, group := range byPriority(recs) {
		sem := make(chan struct{}, shutdownParallel)
		var wg sync.WaitGroup
		for _, rec := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				z, err := m.StopZone(ctx, rec.Name, api.StopRequest{TimeoutSeconds: req.TimeoutSeconds})
				if errors.Is(err, errdefs.ErrConflict) || errors.Is(err, errdefs.ErrNotFound) {
					return // stopped or destroyed meanwhile
				}
				zs := api.ZoneShutdown{Name: rec.Name, AutostartPriority: rec.AutostartPriority, StoppedAt: time.Now().UTC()}
				if err != nil {
					zs.Error = err.Error()
					m.log.Error("host shutdown: stop zone", "zone", rec.Name, "err", err)
				} else {
					zs.LastExit = z.LastExit
				}
				mu.Lock()
				res.Zones = append(res.Zones, zs)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	m.log.Info("host shutdown: zones stopped", "zones", len(res.Zones))
	return res, nil
}

// Healthy reports whether the daemon can still serve: the store answers a
// read within ctx. The systemd watchdog is fed only while it does.
func (m *Manager) Healthy(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		_, err := m.store.ListTemplates()
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store did not answer: %w", ctx.Err())
	}
}
