package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// ExecSession is a command running inside a zone. With a TTY, Stdout
// carries the terminal's output and Stderr is nil.
type ExecSession struct {
	Stdin  io.WriteCloser
	Stdout io.ReadCloser
	Stderr io.ReadCloser
	proc   execProcess
	tty    *os.File
}

// Resize sets the terminal size of a TTY session.
func (s *ExecSession) Resize(width, height uint16) error {
	if s.tty == nil {
		return fmt.Errorf("session has no terminal: %w", errdefs.ErrInvalid)
	}
	return pty.Setsize(s.tty, &pty.Winsize{Cols: width, Rows: height})
}

// Signal sends sig to the command.
func (s *ExecSession) Signal(sig syscall.Signal) error { return s.proc.Signal(sig) }

// Wait waits for the command and returns its exit code (128+signal when
// killed by a signal).
func (s *ExecSession) Wait() (int, error) { return s.proc.Wait() }

// Close releases the session's descriptors; call it after Wait and after
// the output has been drained.
func (s *ExecSession) Close() {
	for _, c := range []io.Closer{s.Stdin, s.Stdout, s.Stderr} {
		if c != nil {
			c.Close()
		}
	}
}

// Exec starts a command inside a running zone, in all its namespaces and
// its cgroup, with the zone's capability bounding set.
func (m *Manager) Exec(ctx context.Context, name string, req api.ExecRequest) (_ *ExecSession, err error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	if len(req.Command) == 0 || req.Command[0] == "" {
		return nil, errdefs.WithField("command", fmt.Errorf("exec in zone %q: command is empty: %w", name, errdefs.ErrInvalid))
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("exec in zone %q: %w", name, err)
		}
	}()
	// Only the look-up runs under the zone's lock: a long session must not
	// block stop or set.
	unlock := m.lock(name)
	rec, err := m.store.GetZone(name)
	unlock()
	if err != nil {
		return nil, err
	}
	if rec.State != api.StateRunning || rec.InitPID == 0 {
		return nil, fmt.Errorf("zone is %s, not running: %w", rec.State, errdefs.ErrConflict)
	}
	env := req.Env
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME=/root")
	}
	if req.TTY && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	cwd := req.Cwd
	if cwd == "" {
		cwd = "/"
	}
	var caps []string
	if rec.Spec != nil && rec.Spec.Process != nil && rec.Spec.Process.Capabilities != nil {
		caps = rec.Spec.Process.Capabilities.Bounding
	}
	if rec.IDMapSize > 0 {
		// As the zone's init: no raising the zone's user namespace maxima.
		caps = namespaces.UserNSCapabilities(caps)
	}
	opts := namespaces.ExecOptions{
		InitPid:       rec.InitPID,
		InitStartTime: rec.InitStartTime,
		Args:          req.Command,
		Env:           env,
		Cwd:           cwd,
		TTY:           req.TTY,
		Capabilities:  caps,
		Seccomp:       m.execSeccomp(rec),
		Zone:          name,
		JoinCgroup: func(pid int) error {
			cg, err := m.cg.Load(m.cgroupPath(name))
			if err != nil {
				return err
			}
			return m.cg.JoinInitLeaf(cg, pid, rec.InitPID)
		},
		// The helper enters the cgroup itself: a move by pid costs
		// every exec an RCU grace period (cgroups.Entry).
		EnterCgroup: func() (*cgroups.Entry, error) {
			cg, err := m.cg.Load(m.cgroupPath(name))
			if err != nil {
				return nil, err
			}
			return m.cg.EntryFor(cg, rec.InitPID)
		},
	}
	s := &ExecSession{}
	var childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
		if err != nil {
			s.Close()
		}
	}()
	if req.TTY {
		master, slave, err := m.rt.OpenZonePTY(rec.InitPID, rec.InitStartTime)
		if err != nil {
			return nil, fmt.Errorf("open terminal: %w", err)
		}
		childEnds = append(childEnds, slave)
		if rec.IDMapSize > 0 {
			// The terminal was made by the daemon, whose host root is
			// unmapped in the zone: give it to the zone's root.
			if err := slave.Chown(int(rec.IDMapBase), -1); err != nil {
				return nil, fmt.Errorf("hand the terminal to the zone's root: %w", err)
			}
		}
		s.tty, s.Stdin, s.Stdout = master, master, nopCloser{master}
		if req.Width > 0 && req.Height > 0 {
			_ = pty.Setsize(master, &pty.Winsize{Cols: req.Width, Rows: req.Height})
		}
		opts.Stdin, opts.Stdout, opts.Stderr = slave, slave, slave
	} else {
		inR, inW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.Stdin = inW
		childEnds = append(childEnds, inR)
		outR, outW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.Stdout = outR
		childEnds = append(childEnds, outW)
		errR, errW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		s.Stderr = errR
		childEnds = append(childEnds, errW)
		opts.Stdin, opts.Stdout, opts.Stderr = inR, outW, errW
	}
	proc, err := m.rt.Exec(opts)
	if errors.Is(err, namespaces.ErrCommand) {
		return nil, errdefs.WithField("command", fmt.Errorf("%w: %w", err, errdefs.ErrInvalid))
	}
	if err != nil {
		return nil, err
	}
	s.proc = proc
	return s, nil
}

// nopCloser keeps the PTY master open until the session's Close: Stdin and
// Stdout share it.
type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if len(e) > len(key) && e[:len(key)] == key && e[len(key)] == '=' {
			return true
		}
	}
	return false
}

// execSeccomp is the seccomp policy a command entering the zone gets: the
// zone's own, with what parts add while the zone runs (the /proc view's
// notify rules).
func (m *Manager) execSeccomp(rec *store.ZoneRecord) *specs.LinuxSeccomp {
	sc := zoneSeccomp(rec.Spec)
	for _, p := range m.parts {
		if d, ok := p.(part.SeccompAdder); ok {
			sc = d.ExecSeccomp(rec.Name, sc)
		}
	}
	return sc
}

// zoneSeccomp is the seccomp policy of the zone's spec, which commands
// entering the zone get too; nil when the spec has none (zones created
// before zoned had one).
func zoneSeccomp(spec *specs.Spec) *specs.LinuxSeccomp {
	if spec == nil || spec.Linux == nil {
		return nil
	}
	return spec.Linux.Seccomp
}
