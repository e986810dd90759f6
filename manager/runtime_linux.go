package manager

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// runtimeZone is what the daemon knows of a running zone beyond the store.
// Fields other than done/status are guarded by the zone's lock.
type runtimeZone struct {
	name      string
	pid       int
	startTime uint64
	init      spawnedInit   // nil for a zone adopted after a restart
	done      chan struct{} // closed when init has exited
	status    namespaces.ExitStatus
	// statusKnown says status is how init ended. For a zone adopted
	// after a restart it is what the kernel still told a non-parent
	// (namespaces.WaitExited), set before done closes.
	statusKnown bool
	console     *os.File       // PTY master; nil for adopted zones
	fanout      *consoleFanout // attached console clients (console_linux.go); nil for adopted zones
	// handled is set by whoever dealt with the exit (a stop, or the
	// watcher), so it is dealt with once.
	handled       bool
	stopRequested bool
}

func (rz *runtimeZone) detach() {
	if rz.console != nil {
		rz.console.Close()
	}
}

func (m *Manager) isRunning(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[name] != nil
}

func (m *Manager) runtime(name string) *runtimeZone {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[name]
}

// watch waits for a zone's init to exit and, unless a stop already dealt
// with it, cleans up and restarts the zone if the guest asked for a reboot.
func (m *Manager) watch(rz *runtimeZone) {
	defer m.wg.Done()
	if rz.init != nil {
		st, err := rz.init.Wait()
		if err != nil {
			m.log.Warn("wait for zone init", "zone", rz.name, "err", err)
		}
		rz.status = st
	} else {
		st, known, err := m.rt.WaitExited(rz.pid, rz.startTime)
		if err != nil {
			m.log.Warn("wait for adopted zone init", "zone", rz.name, "err", err)
		}
		// Set before done closes: readers of the status wait for it.
		rz.status, rz.statusKnown = st, known
	}
	close(rz.done)

	unlock := m.lock(rz.name)
	defer unlock()
	if rz.handled {
		return
	}
	rz.handled = true
	m.afterExit(rz, "")
}

// afterExit frees what a zone that stopped held and records how it ended.
// reason overrides the description of the exit status. Called with the
// zone's lock held.
func (m *Manager) afterExit(rz *runtimeZone, reason string) {
	name := rz.name
	m.mu.Lock()
	if m.running[name] == rz {
		delete(m.running, name)
	}
	m.mu.Unlock()
	if err := m.releaseCgroup(name); err != nil {
		m.log.Warn("release cgroup", "zone", name, "err", err)
	}
	if cur, err := m.store.GetZone(name); err == nil {
		for i := len(m.parts) - 1; i >= 0; i-- {
			m.parts[i].Stopped(cur)
		}
	}
	if reason == "" {
		reason = describeExit(rz)
	}
	reboot := rz.statusKnown && rz.status.Reboot() && !rz.stopRequested
	rec, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateStopped
		z.InitPID, z.InitStartTime = 0, 0
		z.LastExit = reason
		return nil
	})
	if err != nil {
		m.log.Warn("record zone stop", "zone", name, "err", err)
		return
	}
	m.log.Info("zone stopped", "zone", name, "reason", reason)
	m.emit(api.EventZoneStopped, name, rec.State, reason)
	if reboot {
		if _, err := m.startLocked(rec); err != nil {
			m.log.Error("restart after reboot", "zone", name, "err", err)
		}
	}
}

func describeExit(rz *runtimeZone) string {
	switch {
	case !rz.statusKnown:
		return "exited while adopted after a daemon restart (status unknown)"
	case rz.status.Reboot():
		return "reboot"
	case rz.status.PowerOff():
		return "poweroff"
	case rz.status.Signal != 0:
		return "killed by " + unix.SignalName(rz.status.Signal)
	default:
		return fmt.Sprintf("init exited with code %d", rz.status.Code)
	}
}

// releaseCgroup kills whatever is left in a zone's cgroup and removes it.
// A missing cgroup is fine: release is idempotent.
func (m *Manager) releaseCgroup(name string) error {
	cg, err := m.cg.Load(m.cgroupPath(name))
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load cgroup: %w", err)
	}
	if err := cg.Kill(); err != nil {
		return fmt.Errorf("kill cgroup: %w", err)
	}
	if err := cg.Delete(); err != nil {
		return fmt.Errorf("delete cgroup: %w", err)
	}
	return nil
}
