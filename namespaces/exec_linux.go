package namespaces

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/namespaces/nsenter"
	"golang.org/x/sys/unix"
)

// ExecProcess is a command running inside a zone.
type ExecProcess struct {
	Pid int // host pid of the command itself (the nsenter helper's child)

	cmd   *exec.Cmd // the nsenter helper, which relays the command's status
	mu    sync.Mutex
	pidfd int // of the command; -1 once waited for
}

// execNamespaces are joined in this order. The user namespace (when the
// zone has its own) must come first: joining it grants the capabilities
// the other setns calls need there.
var execNamespaces = []string{"user", "cgroup", "ipc", "uts", "net", "pid", "mnt"}

// ErrCommand marks an exec that failed inside the zone, on the command's
// side: not found, not executable, a cwd that does not exist. Callers
// report it as the caller's mistake rather than the daemon's.
var ErrCommand = errors.New("command cannot be started")

// Exec runs a command inside the zone whose init is InitPid. The helper
// process joins the zone's namespaces, forks the command inside the zone's
// PID namespace and relays its exit status; the command's side (terminal,
// cwd, bounding set, PATH lookup, seccomp, execve) runs there too, all in
// C before the helper's Go runtime would start (package nsenter), from
// the config encodeExecConfig prepares here.
func Exec(opts ExecOptions) (*ExecProcess, error) {
	if len(opts.Args) == 0 {
		return nil, fmt.Errorf("exec in zone of pid %d: no command", opts.InitPid)
	}
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = SealedBinary(); err != nil {
			return nil, err
		}
	}
	caps := opts.Capabilities
	if caps == nil {
		caps = DefaultCapabilities()
	}
	payload, err := encodeExecConfig(opts, caps)
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", opts.Args[0], err)
	}
	var entry *cgroups.Entry
	if opts.EnterCgroup != nil {
		if entry, err = opts.EnterCgroup(); err != nil {
			return nil, fmt.Errorf("exec %q: %w", opts.Args[0], err)
		}
		defer entry.Close()
	}
	nsFiles, err := openNamespaces(opts.InitPid, opts.InitStartTime)
	if err != nil {
		return nil, fmt.Errorf("exec %q: %w", opts.Args[0], err)
	}
	defer func() {
		for _, f := range nsFiles {
			f.Close()
		}
	}()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("exec %q: config pipe: %w", opts.Args[0], err)
	}
	defer cfgW.Close()
	parentSock, childSock, err := socketPair()
	if err != nil {
		cfgR.Close()
		return nil, fmt.Errorf("exec %q: %w", opts.Args[0], err)
	}
	defer parentSock.Close()

	extra := []*os.File{cfgR, childSock} // fds 3 and 4
	var nsFds []string
	for i, f := range nsFiles {
		extra = append(extra, f)
		nsFds = append(nsFds, strconv.Itoa(childSyncFd+1+i))
	}
	// The zone init's root, which the helper chroots to after joining the
	// mount namespace (see nsenter.c for why setns alone is not enough).
	rootFile, err := os.OpenFile(fmt.Sprintf("/proc/%d/root", opts.InitPid), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		cfgR.Close()
		childSock.Close()
		return nil, fmt.Errorf("exec %q: open the zone's root: %w", opts.Args[0], err)
	}
	defer rootFile.Close()
	if !Alive(opts.InitPid, opts.InitStartTime) {
		cfgR.Close()
		childSock.Close()
		return nil, fmt.Errorf("exec %q: zone init %d: %w", opts.Args[0], opts.InitPid, os.ErrProcessDone)
	}
	rootFd := childSyncFd + 1 + len(nsFiles)
	extra = append(extra, rootFile)
	newCmd := func(entry *cgroups.Entry) *exec.Cmd {
		extra := extra
		var taskFds []string
		attr := &syscall.SysProcAttr{
			// Away from the daemon's session: a terminal the daemon may
			// have must not send its signals to commands in zones.
			Setsid: true,
		}
		if entry != nil {
			for _, f := range entry.Tasks {
				taskFds = append(taskFds, strconv.Itoa(childConfigFd+len(extra)))
				extra = append(extra, f)
			}
			if entry.Dir != nil {
				attr.UseCgroupFD, attr.CgroupFD = true, int(entry.Dir.Fd())
			}
		}
		return &exec.Cmd{
			Path:        bin,
			Args:        []string{RoleExec},
			Env:         []string{fmt.Sprintf("%s=%d;%s;%d;%s", nsenter.EnvVar, childSyncFd, strings.Join(nsFds, ","), rootFd, strings.Join(taskFds, ","))},
			Stdin:       opts.Stdin,
			Stdout:      opts.Stdout,
			Stderr:      opts.Stderr,
			ExtraFiles:  extra,
			SysProcAttr: attr,
		}
	}
	cmd := newCmd(entry)
	err = cmd.Start()
	if err != nil && entry != nil && entry.Dir != nil && opts.JoinCgroup != nil &&
		(errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.E2BIG)) {
		// A kernel before 5.7 has no CLONE_INTO_CGROUP: the daemon
		// moves the helper by pid, as JoinCgroup does.
		entry = nil
		cmd = newCmd(nil)
		err = cmd.Start()
	}
	cfgR.Close()
	childSock.Close()
	if err != nil {
		return nil, fmt.Errorf("exec %q: start %s: %w", opts.Args[0], bin, err)
	}
	fail := func(err error) (*ExecProcess, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("exec %q in zone of pid %d: %w", opts.Args[0], opts.InitPid, err)
	}
	if _, err := cfgW.Write(payload); err != nil {
		return fail(fmt.Errorf("send config: %w", err))
	}
	cfgW.Close()
	// Before the helper forks the command, so the command inherits it.
	if err := resetOOMScore(cmd.Process.Pid); err != nil {
		return fail(err)
	}
	if entry == nil && opts.JoinCgroup != nil {
		if err := opts.JoinCgroup(cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("join cgroup: %w", err))
		}
	}
	// First byte: the helper may join the namespaces and fork.
	if _, err := parentSock.Write([]byte{0}); err != nil {
		return fail(fmt.Errorf("release helper: %w", err))
	}
	fdr := newFdReader(parentSock)
	defer fdr.close()
	rd := bufio.NewReader(fdr)
	line, err := rd.ReadString('\n')
	if err != nil {
		cmd.Wait()
		return nil, fmt.Errorf("exec %q in zone of pid %d: helper died: %s", opts.Args[0], opts.InitPid, cmd.ProcessState)
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		cmd.Wait()
		return nil, fmt.Errorf("exec %q in zone of pid %d: %s: %w", opts.Args[0], opts.InitPid, strings.TrimSpace(msg), ErrCommand)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err != nil {
		return fail(fmt.Errorf("bad message %q from helper", line))
	}
	// The command waits for our second byte, so it cannot have exited
	// yet and its pid cannot have been reused: the pidfd is safe.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fail(fmt.Errorf("pidfd_open %d: %w", pid, err))
	}
	if _, err := parentSock.Write([]byte{0}); err != nil {
		unix.Close(pidfd)
		return fail(fmt.Errorf("release command: %w", err))
	}
	for {
		line, err := rd.ReadString('\n')
		if err == io.EOF && line == "" {
			break // the close-on-exec socket closed in execve
		}
		if err != nil && err != io.EOF {
			unix.Close(pidfd)
			return fail(fmt.Errorf("read from command: %w", err))
		}
		if line == "seccomp\n" {
			fd, err := fdr.take()
			if err == nil {
				err = handOverListener(opts.Seccomp, fd, opts.Zone, pid)
			}
			if err != nil {
				unix.Close(pidfd)
				return fail(err)
			}
			continue
		}
		unix.Close(pidfd)
		if msg, ok := strings.CutPrefix(line, "error "); ok {
			cmd.Wait()
			return nil, fmt.Errorf("exec %q in zone of pid %d: %s: %w", opts.Args[0], opts.InitPid, strings.TrimSpace(msg), ErrCommand)
		}
		return fail(fmt.Errorf("bad message %q from command", line))
	}
	// EOF without a message: the close-on-exec socket closed in execve.
	return &ExecProcess{Pid: pid, cmd: cmd, pidfd: pidfd}, nil
}

// openNamespaces opens the namespace files of the zone's init, checking
// afterwards that the pid still names the process that started at
// startTime: files opened from a recycled pid would lead somewhere else.
// The user namespace is joined only when it differs from ours.
func openNamespaces(pid int, startTime uint64) ([]*os.File, error) {
	if !Alive(pid, startTime) {
		return nil, fmt.Errorf("zone init %d (start time %d): %w", pid, startTime, os.ErrProcessDone)
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, ns := range execNamespaces {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, ns)
		if ns == "user" {
			same, err := sameFile(p, "/proc/self/ns/user")
			if err != nil {
				closeAll()
				return nil, err
			}
			if same {
				continue
			}
		}
		f, err := os.Open(p)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open %s: %w", p, err)
		}
		files = append(files, f)
	}
	if !Alive(pid, startTime) {
		closeAll()
		return nil, fmt.Errorf("zone init %d (start time %d): %w", pid, startTime, os.ErrProcessDone)
	}
	return files, nil
}

func sameFile(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, fmt.Errorf("stat %s: %w", a, err)
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, fmt.Errorf("stat %s: %w", b, err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// Wait waits for the command and returns its exit code (128+signal when a
// signal killed it).
func (p *ExecProcess) Wait() (int, error) {
	err := p.cmd.Wait()
	p.mu.Lock()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	p.mu.Unlock()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("wait for command %d: %w", p.Pid, err)
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// Signal sends sig to the command (not to the helper relaying its status).
func (p *ExecProcess) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return fmt.Errorf("signal command %d: %w", p.Pid, os.ErrProcessDone)
	}
	if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal command %d: %w", p.Pid, err)
	}
	return nil
}

// encodeExecConfig prepares everything the exec helper's C side needs
// (nsenter.c, struct exec_config, says the layout): the kept capabilities
// as a bitmask and the seccomp filter already assembled, so the helper
// only has to apply them and its Go runtime never starts. Bad capability
// names or a bad policy are refused here, before anything is spawned.
func encodeExecConfig(opts ExecOptions, caps []string) ([]byte, error) {
	set, err := capSet(caps)
	if err != nil {
		return nil, err
	}
	var mask uint64
	for c := range set {
		if c >= 64 {
			return nil, fmt.Errorf("capability %d does not fit the helper's mask", c)
		}
		mask |= 1 << c
	}
	var flags uint32
	if opts.TTY {
		flags |= nsenter.ConfigTTY
	}
	var filter []byte
	if opts.Seccomp != nil {
		prog, listener, err := seccompProgram(opts.Seccomp)
		if err != nil {
			return nil, err
		}
		if listener {
			flags |= nsenter.ConfigListener
		}
		for _, ins := range prog { // struct sock_filter
			filter = binary.NativeEndian.AppendUint16(filter, ins.Code)
			filter = append(filter, ins.Jt, ins.Jf)
			filter = binary.NativeEndian.AppendUint32(filter, ins.K)
		}
	}
	cwd := opts.Cwd
	if cwd == "" {
		cwd = "/"
	}
	env := opts.Env
	if len(env) == 0 {
		env = []string{DefaultEnv[0]}
	}
	// C strings end at a NUL; one inside would cut a path or argument
	// short rather than fail as execve(2) of the whole string would.
	for _, s := range append(append([]string{cwd}, opts.Args...), env...) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("%q contains a NUL byte: %w", s, ErrCommand)
		}
	}
	b := binary.NativeEndian.AppendUint32(nil, flags)
	b = binary.NativeEndian.AppendUint64(b, mask)
	field := func(s []byte) {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	field([]byte(cwd))
	field(filter)
	for _, list := range [][]string{opts.Args, env} {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(list)))
		for _, s := range list {
			field([]byte(s))
		}
	}
	return b, nil
}
