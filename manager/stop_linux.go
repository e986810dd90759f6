package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// DefaultStopTimeout is how long a zone's init gets to shut down before
// its cgroup is killed.
const DefaultStopTimeout = 30 * time.Second

// StopZone shuts a zone down: its init gets the signal it expects and the
// timeout to end; then the whole cgroup is killed.
func (m *Manager) StopZone(ctx context.Context, name string, req api.StopRequest) (*api.Zone, error) {
	if req.TimeoutSeconds < 0 {
		return nil, errdefs.WithField("timeout_seconds", fmt.Errorf("timeout %d s is negative: %w", req.TimeoutSeconds, errdefs.ErrInvalid))
	}
	var saved *store.ZoneRecord
	err := m.withZone("stop", name, func(rec *store.ZoneRecord) (err error) {
		if rec.State != api.StateRunning {
			return fmt.Errorf("zone is %s, not running: %w", rec.State, errdefs.ErrConflict)
		}
		saved, err = m.stopLocked(ctx, rec, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.toAPI(saved, false), nil
}

// RestartZone stops a running zone (if it runs) and starts it again.
func (m *Manager) RestartZone(ctx context.Context, name string, req api.StopRequest) (*api.Zone, error) {
	var saved *store.ZoneRecord
	err := m.withZone("restart", name, func(rec *store.ZoneRecord) (err error) {
		if rec.State == api.StateRunning {
			if rec, err = m.stopLocked(ctx, rec, req); err != nil {
				return err
			}
		}
		if rec.State != api.StateStopped {
			return fmt.Errorf("zone is %s: %w", rec.State, errdefs.ErrConflict)
		}
		saved, err = m.startLocked(rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.toAPI(saved, false), nil
}

func (m *Manager) stopLocked(ctx context.Context, rec *store.ZoneRecord, req api.StopRequest) (*store.ZoneRecord, error) {
	name := rec.Name
	rz := m.runtime(name)
	if rz == nil {
		// The record says running but nothing watches it: it died
		// unseen. Free what is left.
		rz = &runtimeZone{name: name, done: make(chan struct{})}
		close(rz.done)
		rz.handled = true
		m.afterExit(rz, "found dead at stop")
		return m.store.GetZone(name)
	}
	rz.stopRequested = true
	if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateStopping
		return nil
	}); err != nil {
		return nil, err
	}
	timeout := DefaultStopTimeout
	if req.TimeoutSeconds > 0 {
		timeout = time.Duration(req.TimeoutSeconds) * time.Second
	}
	// A graceful stop is described by how init ended (poweroff).
	reason := ""
	if !req.Force && m.rt.Alive(rz.pid, rz.startTime) {
		sig := stopSignal(rec)
		if err := m.rt.Signal(rz.pid, rz.startTime, sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return nil, fmt.Errorf("signal init: %w", err)
		}
		select {
		case <-rz.done:
		case <-time.After(timeout):
			reason = fmt.Sprintf("killed after the %s stop timeout", timeout)
		}
	} else {
		reason = "killed (forced stop)"
	}
	select {
	case <-rz.done:
	default:
		if err := m.killZone(rz); err != nil {
			return nil, err
		}
	}
	if reason == "" && !rz.statusKnown {
		// An adopted zone whose status the kernel no longer told (read
		// only after done closed, when watch has set it).
		reason = "stopped"
	}
	rz.handled = true
	m.afterExit(rz, reason)
	return m.store.GetZone(name)
}

// killZone kills every process of the zone and waits for its init to go.
func (m *Manager) killZone(rz *runtimeZone) error {
	if cg, err := m.cg.Load(m.cgroupPath(rz.name)); err == nil {
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("kill cgroup: %w", err)
		}
	} else {
		_ = m.rt.Signal(rz.pid, rz.startTime, syscall.SIGKILL)
	}
	select {
	case <-rz.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("init pid %d did not die after SIGKILL: %w", rz.pid, errdefs.ErrUnavailable)
	}
}
