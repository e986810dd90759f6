package view

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/procview"
)

// viewLinger is how long the view server outlives the last zone: starting
// it costs a zone's start tens of milliseconds, and a host that stops its
// last zone often starts one again soon (a restart, a reinstall).
const viewLinger = 10 * time.Second

func (v *Part) state() string { return filepath.Join(v.host.DataDir(), "procview") }

// cgroupPath is the view server's own group beside the zones' ("_" keeps
// it apart from every zone name).
func (v *Part) cgroupPath() string { return v.host.CgroupParent() + "/_viewfs" }

// ensure starts the view server unless it serves already, and watches
// it; started says it had to be started (zones bound to an earlier
// server's mount need reattach). Called under srv.
func (v *Part) ensure() (started bool, err error) {
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	if _, err := procview.Serving(v.state()); err != nil {
		// What is left of a server that does not serve (killed, or
		// alive with its mount gone) goes: the new one gets the group.
		if cg, err := cgroups.Load(v.cgroupPath()); err == nil {
			if err := cg.Kill(); err != nil {
				v.host.Logger().Warn("empty the /proc view's stale cgroup", "err", err)
			}
		}
	}
	pid, started, err := procview.Start(v.state(), exe, func(pid int) error {
		// A server that died leaves its group: it is reused.
		cg, err := cgroups.Load(v.cgroupPath())
		if errors.Is(err, errdefs.ErrNotFound) {
			cg, err = cgroups.New(v.cgroupPath(), &specs.LinuxResources{})
		}
		if err != nil {
			return err
		}
		return cg.AddProc(pid)
	})
	if err != nil {
		return false, err
	}
	if pid != v.watched {
		v.watch(pid)
	}
	return started, nil
}

// watch notices when the server pid ends (a pidfd: it need not be this
// daemon's child, as one started by an earlier daemon is not) and
// replaces it. Called under srv.
func (v *Part) watch(pid int) {
	if v.stopWatch != nil {
		close(v.stopWatch)
	}
	stop := make(chan struct{})
	died, err := procview.WatchServer(pid, stop)
	if err != nil {
		v.host.Logger().Warn("the /proc view server is not watched: should it die, zones lose their view until the daemon restarts", "err", err)
		v.watched, v.stopWatch = 0, nil
		return
	}
	v.watched, v.stopWatch = pid, stop
	go func() {
		select {
		case <-died:
			v.died(pid)
		case <-stop:
		}
	}()
}

// died replaces the server pid, which ended without being asked to, and
// re-attaches the running zones to the new one: their view files are
// bind mounts of the dead server's mount, which answers "Transport
// endpoint is not connected" until replaced. A server that keeps dying is
// started again less and less often.
func (v *Part) died(pid int) {
	v.srv.Lock()
	defer v.srv.Unlock()
	if v.watched != pid || v.closed {
		return
	}
	v.watched, v.stopWatch = 0, nil
	v.deaths++
	served := len(procview.Served(v.state()))
	v.host.Logger().Error("the /proc view server died", "pid", pid, "zones", served)
	if served == 0 {
		v.stopServer()
		v.host.Emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died; no zone ran, so none was started", pid))
		return
	}
	for try := 0; ; try++ {
		err := v.revive()
		if err == nil {
			break
		}
		wait := min(time.Second<<try, 30*time.Second)
		v.host.Logger().Error("restart the /proc view server", "err", err, "retry_in", wait)
		v.host.Emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died and could not be restarted: %v", pid, err))
		v.srv.Unlock()
		time.Sleep(wait)
		v.srv.Lock()
		if v.closed || v.watched != 0 || len(procview.Served(v.state())) == 0 {
			return
		}
	}
	v.revived++
	v.host.Logger().Info("the /proc view server was restarted", "dead_pid", pid, "pid", v.watched)
	v.host.Emit(api.EventViewRestarted, "", "", fmt.Sprintf("the /proc view server (pid %d) died; restarted as pid %d and its zones re-attached", pid, v.watched))
}

// revive starts a server and re-attaches every running zone. Called
// under srv.
func (v *Part) revive() error {
	if _, err := v.ensure(); err != nil {
		return err
	}
	v.reattachAll()
	return nil
}

// reattachAll points every served zone's view files at the serving
// mount. A zone that cannot be re-attached keeps its dead files and a
// warning in show. Called under srv.
func (v *Part) reattachAll() {
	for _, z := range procview.Served(v.state()) {
		if z.InitPID <= 0 {
			continue // not started yet: its init binds the new mount
		}
		if err := procview.Reattach(v.state(), z.Name, z.InitPID, z.InitStart); err != nil {
			v.host.Logger().Warn("zone keeps a dead /proc view", "zone", z.Name, "err", err)
			v.setDegraded(z.Name, "the view server died and the zone could not be re-attached: "+err.Error())
			continue
		}
		v.setDegraded(z.Name, "")
	}
}

// close stops a lingering server when the daemon ends with no zone
// running: nothing of zoned stays without zones.
func (v *Part) Close() {
	v.srv.Lock()
	defer v.srv.Unlock()
	v.closed = true
	if v.idle != nil {
		v.idle.Stop()
		v.idle = nil
	}
	if procview.Zones(v.state()) == 0 {
		v.stopServer()
	}
	v.unwatch()
}

// unwatch ends the watch of the server: it is stopped on purpose, or the
// daemon ends (a server that dies while no daemon runs is replaced by
// the next one). Called under srv.
func (v *Part) unwatch() {
	if v.stopWatch != nil {
		close(v.stopWatch)
	}
	v.watched, v.stopWatch = 0, nil
}

// stopServer stops the server and removes its group. Called under srv.
func (v *Part) stopServer() {
	v.unwatch()
	if err := procview.Stop(v.state()); err != nil {
		v.host.Logger().Warn("stop the /proc view", "err", err)
	}
	// As for a zone's group: kill what is left and wait for the group to
	// be empty (cgroup v2 lists the server a moment after it was reaped),
	// then remove it.
	cg, err := cgroups.Load(v.cgroupPath())
	if err != nil {
		return
	}
	if err = cg.Kill(); err == nil {
		err = cg.Delete()
	}
	if err != nil {
		v.host.Logger().Warn("remove the /proc view's cgroup", "err", err)
	}
}
