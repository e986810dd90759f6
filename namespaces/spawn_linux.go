package namespaces

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// Spawn starts a zone's init in new PID, mount, UTS, IPC and network
// namespaces (the cgroup namespace is created by the child itself, after
// Setup has moved it into the zone's cgroup). It returns once the zone's
// init has been exec'd, or with the child's error; on error the child has
// been killed and reaped, and since every mount was made inside the child's
// mount namespace nothing is left on the host.
func Spawn(opts SpawnOptions) (*Init, error) {
	cfg := opts.Config
	if err := checkInitConfig(&cfg); err != nil {
		return nil, err
	}
	cfg.UserNS = UserNamespaced(cfg.Spec)
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = SealedBinary(); err != nil {
			return nil, err
		}
	}
	payload, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode init config of zone %q: %w", cfg.Zone, err)
	}

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawn zone %q: config pipe: %w", cfg.Zone, err)
	}
	defer cfgW.Close()
	parentSock, childSock, err := socketPair()
	if err != nil {
		cfgR.Close()
		return nil, fmt.Errorf("spawn zone %q: %w", cfg.Zone, err)
	}
	defer parentSock.Close()

	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET,
		// Its own session, and no Pdeathsig: the zone must outlive the
		// daemon. The console is deliberately NOT made the controlling
		// terminal (no Setctty): when the daemon dies, the kernel
		// closes its PTY master, and a session leader whose
		// controlling terminal hangs up gets SIGHUP, which would look
		// like a reboot request and end the zone. The guest's init
		// may still make /dev/console its controlling terminal.
		Setsid: true,
	}
	if cfg.UserNS {
		// Created in the same clone, the user namespace owns the
		// others: root inside may mount proc, sysfs and the rest.
		userNSAttr(attr, cfg.Spec)
	}
	cmd := &exec.Cmd{
		Path:        bin,
		Args:        []string{RoleInit, cfg.Zone},
		Env:         []string{},
		Stdin:       opts.Console,
		Stdout:      opts.Console,
		Stderr:      opts.Console,
		ExtraFiles:  []*os.File{cfgR, childSock}, // fds 3 and 4
		SysProcAttr: attr,
	}
	err = startInit(cmd, &cfg)
	cfgR.Close()
	childSock.Close()
	if err != nil {
		return nil, fmt.Errorf("spawn zone %q: start %s: %w", cfg.Zone, bin, err)
	}
	pid := cmd.Process.Pid
	fail := func(err error) (*Init, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("spawn zone %q: %w", cfg.Zone, err)
	}
	if _, err := cfgW.Write(payload); err != nil {
		return fail(fmt.Errorf("send config: %w", err))
	}
	cfgW.Close()

	if err := resetOOMScore(pid); err != nil {
		return fail(err)
	}
	if opts.Setup != nil {
		if err := opts.Setup(pid); err != nil {
			return fail(fmt.Errorf("setup of pid %d: %w", pid, err))
		}
	}
	goFds := map[string]int{}
	closeGoFds := func() {
		for _, fd := range goFds {
			unix.Close(fd)
		}
	}
	if cfg.UserNS {
		fd, err := prepareUserNSRoot(pid, cfg.RootMount)
		if err != nil {
			return fail(fmt.Errorf("root of a user-namespaced zone: %w", err))
		}
		goFds[goFdRoot] = fd
	}
	if cfg.DevicesDir != "" {
		fd, err := deviceNodesMount(cfg.DevicesDir)
		if err != nil {
			closeGoFds()
			return fail(err)
		}
		goFds[goFdDevices] = fd
	}
	err = sendGo(parentSock, goFds)
	closeGoFds()
	if err != nil {
		return fail(fmt.Errorf("release child: %w", err))
	}

	rd := newFdReader(parentSock)
	defer rd.close()
	dec := json.NewDecoder(rd)
	execing := false
	for {
		var m syncMsg
		err := dec.Decode(&m)
		if err == io.EOF {
			if execing {
				break // the close-on-exec socket closed: init runs
			}
			return fail(fmt.Errorf("child died before exec: %s", childStatus(cmd)))
		}
		if err != nil {
			return fail(fmt.Errorf("read from child: %w", err))
		}
		switch m.Type {
		case "exec":
			execing = true
			continue
		case "seccomp":
			fd, err := rd.take()
			if err == nil {
				err = handOverListener(cfg.Spec.Linux.Seccomp, fd, cfg.Zone, pid)
			}
			if err != nil {
				return fail(err)
			}
			continue
		case "error":
			return fail(errors.New(m.Error))
		default:
			return fail(fmt.Errorf("unexpected message %q from child", m.Type))
		}
	}
	st, err := StartTime(pid)
	if err != nil {
		return fail(fmt.Errorf("read start time of init: %w", err))
	}
	return &Init{Pid: pid, StartTime: st, proc: cmd.Process}, nil
}

// childStatus waits for a dead child and describes how it ended.
func childStatus(cmd *exec.Cmd) string {
	cmd.Wait()
	if cmd.ProcessState == nil {
		return "unknown status"
	}
	return cmd.ProcessState.String()
}

func checkInitConfig(cfg *InitConfig) error {
	if cfg.Spec == nil || cfg.Spec.Process == nil || len(cfg.Spec.Process.Args) == 0 {
		return fmt.Errorf("spawn zone %q: spec has no process args", cfg.Zone)
	}
	if cfg.RootMount.Destination == "" && cfg.Spec.Root != nil {
		cfg.RootMount.Destination = cfg.Spec.Root.Path
	}
	if cfg.RootMount.Destination == "" || cfg.RootMount.Destination[0] != '/' {
		return fmt.Errorf("spawn zone %q: root path %q is not absolute", cfg.Zone, cfg.RootMount.Destination)
	}
	if cfg.RootMount.Type == "" {
		return fmt.Errorf("spawn zone %q: root mount has no type", cfg.Zone)
	}
	return nil
}

// socketPair returns a connected pair of close-on-exec stream sockets; the
// child's end is passed through ExtraFiles (which clears close-on-exec in
// the child for its new number).
func socketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// Wait waits for the zone's init to end and says how. Only valid for an
// Init returned by Spawn in this process: the init is our child. For a zone
// adopted after a daemon restart use WaitExited.
func (p *Init) Wait() (ExitStatus, error) {
	if p.proc == nil {
		return ExitStatus{}, fmt.Errorf("wait for init %d: not a child of this process", p.Pid)
	}
	ps, err := p.proc.Wait()
	if err != nil {
		return ExitStatus{}, fmt.Errorf("wait for init %d: %w", p.Pid, err)
	}
	return exitStatusOf(ps.Sys().(syscall.WaitStatus)), nil
}

// Signal sends sig to the zone's init, guarded by its start time.
func (p *Init) Signal(sig syscall.Signal) error {
	return Signal(p.Pid, p.StartTime, sig)
}
