package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// DefaultStopTimeout is how long a zone's init gets to shut down before
// its cgroup is killed.
const DefaultStopTimeout = 30 * time.Second

// consoleLogMax is the size at which the console log is rotated once, so a
// chatty guest cannot fill the host's disk.
const consoleLogMax = 1 << 20

// runtimeZone is what the daemon knows of a running zone beyond the store.
// Fields other than done/status are guarded by the zone's lock.
type runtimeZone struct {
	name      string
	pid       int
	startTime uint64
	init      *namespaces.Init // nil for a zone adopted after a restart
	done      chan struct{}    // closed when init has exited
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

// StartZone boots a stopped zone.
func (m *Manager) StartZone(ctx context.Context, name string) (*api.Zone, error) {
	var saved *store.ZoneRecord
	err := m.withZone("start", name, func(rec *store.ZoneRecord) (err error) {
		if rec.State != api.StateStopped {
			return fmt.Errorf("zone is %s, not stopped: %w", rec.State, errdefs.ErrConflict)
		}
		saved, err = m.startLocked(rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.toAPI(saved, false), nil
}

// startLocked: state starting → cgroup with limits → console → init
// spawned into the cgroup before it runs anything → state running.
func (m *Manager) startLocked(rec *store.ZoneRecord) (_ *store.ZoneRecord, err error) {
	name := rec.Name
	r := revert.New()
	defer r.Fail()

	if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateStarting
		return nil
	}); err != nil {
		return nil, err
	}
	r.Add(func() {
		_, _ = m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
			z.State = api.StateStopped
			z.InitPID, z.InitStartTime = 0, 0
			if err != nil {
				z.LastExit = "start failed: " + err.Error()
			}
			return nil
		})
	})

	// A cgroup left by a zone that died while no daemon watched it would
	// hold stale limits and maybe processes: start from a clean one.
	if err := m.releaseCgroup(name); err != nil {
		return nil, err
	}
	res := cgroups.ToSpec(rec.Resources)
	if rec.Spec != nil && rec.Spec.Linux != nil {
		cgroups.AllowDevices(res, rec.Spec.Linux.Devices)
	}
	if err := m.setBlockIO(name, rec.Resources, res); err != nil {
		return nil, err
	}
	cg, err := cgroups.New(m.cgroupPath(name), res)
	if err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	r.Add(func() {
		_ = cg.Kill()
		_ = cg.Delete()
	})
	// Before the zone can make groups below its own: they cost the host
	// kernel memory its memory limit does not pay for.
	if err := cgroups.LimitTree(m.cgroupPath(name), *m.cfg.CgroupTree); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if rec.IDMapSize > 0 {
		// The zone's root manages its own subtree (systemd does).
		if err := cgroups.Delegate(m.cgroupPath(name), int(rec.IDMapBase), int(rec.IDMapBase)); err != nil {
			return nil, err
		}
	}

	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open console pty: %w", err)
	}
	defer slave.Close()
	r.Add(func() { master.Close() })
	if rec.IDMapSize > 0 {
		// A console owned by host root would be nobody's inside, and the
		// guest's init could not set it up.
		if err := slave.Chown(int(rec.IDMapBase), int(rec.IDMapBase)); err != nil {
			return nil, fmt.Errorf("hand the console to the zone's root: %w", err)
		}
	}

	ctx := context.Background()
	for _, p := range m.parts {
		if err := p.Prestart(ctx, rec, r); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	// After prestart: a part may add mounts for this start only (the /proc
	// view's bind mounts, when the view is served).
	spec := *rec.Spec
	root := *spec.Root
	root.Path = m.fs.ZoneRootPath(name)
	spec.Root = &root
	devicesDir, err := m.makeDeviceNodes(rec)
	if err != nil {
		return nil, fmt.Errorf("optional devices: %w", err)
	}
	init, err := namespaces.Spawn(namespaces.SpawnOptions{
		Config: namespaces.InitConfig{
			Zone:       name,
			Spec:       &spec,
			RootMount:  m.fs.RootMount(name, rec.Template),
			CgroupV2:   cgroups.Mode() == "v2",
			DevicesDir: devicesDir,
			// Only used for a zone in a user namespace.
			UserNSLimits: m.cfg.UserNSLimits,
		},
		Console: slave,
		Setup: func(pid int) error {
			if err := cg.AddProc(pid); err != nil {
				return err
			}
			for _, p := range m.parts {
				if err := p.Start(ctx, rec, pid, r); err != nil {
					return fmt.Errorf("%s: %w", p.Name(), err)
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	r.Add(func() {
		_ = syscall.Kill(init.Pid, syscall.SIGKILL)
		_, _ = init.Wait()
	})

	now := time.Now().UTC()
	saved, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
		z.State = api.StateRunning
		z.InitPID = init.Pid
		z.InitStartTime = init.StartTime
		z.StartedAt = &now
		z.LastExit = ""
		z.QuotaHits = 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Success()

	rz := &runtimeZone{
		name:        name,
		pid:         init.Pid,
		startTime:   init.StartTime,
		init:        init,
		done:        make(chan struct{}),
		statusKnown: true,
		console:     master,
		fanout:      newConsoleFanout(),
	}
	m.mu.Lock()
	m.running[name] = rz
	m.mu.Unlock()
	go m.copyConsole(name, master, rz.fanout)
	m.wg.Add(1)
	go m.watch(rz)
	m.log.Info("zone started", "zone", name, "pid", init.Pid)
	m.emit(api.EventZoneStarted, name, saved.State, "")
	return saved, nil
}

// copyConsole keeps what the zone writes to /dev/console in console.log
// and hands it to attached clients.
func (m *Manager) copyConsole(name string, master *os.File, fan *consoleFanout) {
	defer fan.end()
	path := filepath.Join(m.fs.ZoneDir(name), "console.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		m.log.Warn("cannot open console log", "zone", name, "err", err)
		_, _ = io.Copy(io.Discard, master)
		return
	}
	defer func() { f.Close() }()
	// Small: one of these lives per running zone, and a console's bursts
	// are short lines. With a thousand zones 32 KiB each would be 32 MB.
	buf := make([]byte, 4<<10)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			if st, serr := f.Stat(); serr == nil && st.Size()+int64(n) > consoleLogMax {
				f.Close()
				_ = os.Rename(path, path+".1")
				if f, serr = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); serr != nil {
					return
				}
			}
			_, _ = f.Write(buf[:n])
			fan.write(buf[:n])
		}
		if err != nil {
			return // EIO once the zone's last process holding the console is gone
		}
	}
}

// ConsoleLog returns what the zone wrote on its console, oldest first.
func (m *Manager) ConsoleLog(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	if _, err := m.store.GetZone(name); err != nil {
		return nil, fmt.Errorf("zone %q: %w", name, err)
	}
	path := filepath.Join(m.fs.ZoneDir(name), "console.log")
	var readers []io.Reader
	var files multiCloser
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		readers = append(readers, f)
		files = append(files, f)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(readers...), files}, nil
}

type multiCloser []io.Closer

func (mc multiCloser) Close() error {
	for _, c := range mc {
		c.Close()
	}
	return nil
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
		st, known, err := namespaces.WaitExited(rz.pid, rz.startTime)
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
	cg, err := cgroups.Load(m.cgroupPath(name))
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
	if !req.Force && namespaces.Alive(rz.pid, rz.startTime) {
		sig := stopSignal(rec)
		if err := namespaces.Signal(rz.pid, rz.startTime, sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
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
	if cg, err := cgroups.Load(m.cgroupPath(rz.name)); err == nil {
		if err := cg.Kill(); err != nil {
			return fmt.Errorf("kill cgroup: %w", err)
		}
	} else {
		_ = namespaces.Signal(rz.pid, rz.startTime, syscall.SIGKILL)
	}
	select {
	case <-rz.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("init pid %d did not die after SIGKILL: %w", rz.pid, errdefs.ErrUnavailable)
	}
}

// reconcile brings the store and the host into agreement after a start:
// interrupted creates are undone, interrupted destroys finished, running
// zones adopted, zones that died while no daemon watched are cleaned.
func (m *Manager) reconcile(ctx context.Context) error {
	if err := m.fs.Cleanup(); err != nil {
		m.log.Warn("clean storage leftovers", "err", err)
	}
	if err := m.ops.recoverInterrupted(ctx); err != nil {
		return err
	}
	tmpls, err := m.store.ListTemplates()
	if err != nil {
		return err
	}
	for _, t := range tmpls {
		if t.State != templateReady {
			m.log.Info("removing template whose build was interrupted", "template", t.Name)
			if err := m.fs.DeleteTemplate(t.Name); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
			if err := m.store.DeleteTemplate(t.Name); err != nil {
				return err
			}
		}
	}
	recs, err := m.store.ListZones()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		name := rec.Name
		switch rec.State {
		case api.StateCreating:
			m.log.Info("undoing interrupted create", "zone", name)
			if err := m.destroyParts(name); err != nil {
				return fmt.Errorf("undo create of %q: %w", name, err)
			}
			if err := m.fs.DeleteZoneRoot(name); err != nil {
				return fmt.Errorf("undo create of %q: %w", name, err)
			}
			if err := m.store.DeleteZone(name); err != nil {
				return err
			}
		case api.StateDestroying:
			m.log.Info("finishing interrupted destroy", "zone", name)
			if err := m.finishDestroy(name); err != nil {
				return fmt.Errorf("finish destroy of %q: %w", name, err)
			}
		case api.StateRunning, api.StateStarting, api.StateStopping:
			if rec.InitPID > 0 && namespaces.Alive(rec.InitPID, rec.InitStartTime) {
				rz := &runtimeZone{name: name, pid: rec.InitPID, startTime: rec.InitStartTime, done: make(chan struct{})}
				m.running[name] = rz
				if _, err := m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
					z.State = api.StateRunning
					return nil
				}); err != nil {
					return err
				}
				m.wg.Add(1)
				go m.watch(rz)
				m.log.Info("adopted running zone", "zone", name, "pid", rec.InitPID)
				continue
			}
			rz := &runtimeZone{name: name, handled: true}
			m.afterExit(rz, "died while zoned was not running")
		default:
			if err := m.releaseCgroup(name); err != nil {
				m.log.Warn("release cgroup of stopped zone", "zone", name, "err", err)
			}
		}
	}
	// Parts rebuild their host state (rules, qdiscs, views) from the
	// records as they now stand.
	recs, err = m.store.ListZones()
	if err != nil {
		return err
	}
	for _, p := range m.parts {
		if err := p.Reconcile(ctx, recs); err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	return nil
}

// makeDeviceNodes makes the nodes of the optional devices a zone asked for
// in its own directory, with the modes the spec gives and owned by the
// zone's root, for the zone init to bind into /dev. The host's own nodes
// are not used: their modes are the host's business (often 0600 for root),
// and root of a user-namespaced zone is not the host's root. The device
// policy still decides what the zone may open.
func (m *Manager) makeDeviceNodes(rec *store.ZoneRecord) (string, error) {
	if rec.Spec == nil || rec.Spec.Linux == nil || len(rec.Spec.Linux.Devices) == 0 {
		return "", nil
	}
	dir := filepath.Join(m.fs.ZoneDir(rec.Name), "dev")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	for _, d := range rec.Spec.Linux.Devices {
		mode := uint32(0o600)
		if d.FileMode != nil {
			mode = uint32(d.FileMode.Perm())
		}
		node := filepath.Join(dir, filepath.Base(d.Path))
		if err := unix.Mknod(node, unix.S_IFCHR|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return "", fmt.Errorf("make node for %s: %w", d.Path, err)
		}
		// mknod applies the umask: set the spec's mode exactly.
		if err := os.Chmod(node, os.FileMode(mode)); err != nil {
			return "", err
		}
		if rec.IDMapSize > 0 {
			if err := os.Chown(node, int(rec.IDMapBase), int(rec.IDMapBase)); err != nil {
				return "", err
			}
		}
	}
	// The directory stays host root's: the zone's root owns only its
	// nodes, not the place the daemon writes them to.
	return dir, nil
}
