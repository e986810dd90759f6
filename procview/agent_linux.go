package procview

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// struct seccomp_notif and seccomp_notif_resp (include/uapi/linux/seccomp.h),
// which x/sys/unix does not define.
type seccompData struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

type seccompNotif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  seccompData
}

type seccompNotifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// agent answers the seccomp notifications of zones' processes (see
// seccomp.go). Each process that loads a zone's filter hands its listener
// to the agent's socket; one goroutine waits on all listeners with epoll
// and answers in turn, each answer a few cgroup reads. A listener is
// closed when the kernel says no process uses its filter any more.
type agent struct {
	state string
	log   *slog.Logger
	ln    *net.UnixListener
	epfd  int

	mu    sync.Mutex
	zones map[int32]string // listener fd → zone

	snaps map[string]cachedSnap

	// statfsBusy counts the statfs answers in progress, by zone
	// (statfs_linux.go); statfsMu guards it.
	statfsMu   sync.Mutex
	statfsBusy map[string]int
}

// startAgent listens on SeccompSocket(state) and serves until the process
// ends. Listeners die with the process: their zones' intercepted syscalls
// then fail with ENOSYS until the zone restarts.
func startAgent(state string, log *slog.Logger) (*agent, error) {
	path := SeccompSocket(state)
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return nil, fmt.Errorf("seccomp agent: socket path %s is longer than a unix socket allows", path)
	}
	_ = os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("seccomp agent: %w", err)
	}
	// Only root (the daemon) hands over listeners.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("seccomp agent: %w", err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("seccomp agent: epoll: %w", err)
	}
	a := &agent{state: state, log: log, ln: ln, epfd: epfd, zones: map[int32]string{}, snaps: map[string]cachedSnap{}, statfsBusy: map[string]int{}}
	go a.accept()
	go a.poll()
	return a, nil
}

func (a *agent) close() { a.ln.Close() }

func (a *agent) accept() {
	for {
		conn, err := a.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.log.Warn("seccomp agent: accept", "err", err)
			}
			return
		}
		go func() {
			defer conn.Close()
			if err := a.receive(conn); err != nil {
				a.log.Warn("seccomp agent: receive a listener", "err", err)
			}
		}()
	}
}

// receive takes one listener: the OCI ContainerProcessState with the
// descriptor attached; the zone's name is its metadata.
func (a *agent) receive(conn *net.UnixConn) error {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*8))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return err
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for i := range msgs {
			if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	listener := -1
	defer func() {
		for _, fd := range fds {
			if fd != listener {
				unix.Close(fd)
			}
		}
	}()
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return fmt.Errorf("bad process state: %w", err)
	}
	for i, name := range st.Fds {
		if name == specs.SeccompFdName && i < len(fds) {
			listener = fds[i]
		}
	}
	zone := st.Metadata
	if listener < 0 || zone == "" || strings.ContainsAny(zone, "/.") {
		listener = -1
		return fmt.Errorf("process %d of %q: no listener or no zone name", st.Pid, zone)
	}
	a.mu.Lock()
	a.zones[int32(listener)] = zone
	a.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(listener)}
	if err := unix.EpollCtl(a.epfd, unix.EPOLL_CTL_ADD, listener, &ev); err != nil {
		a.forget(listener)
		return fmt.Errorf("zone %q: watch listener: %w", zone, err)
	}
	return nil
}

func (a *agent) forget(fd int) {
	a.mu.Lock()
	delete(a.zones, int32(fd))
	a.mu.Unlock()
	_ = unix.EpollCtl(a.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	unix.Close(fd)
}

func (a *agent) poll() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(a.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			a.log.Error("seccomp agent: epoll", "err", err)
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			a.mu.Lock()
			zone, ok := a.zones[ev.Fd]
			a.mu.Unlock()
			switch {
			case !ok:
			case ev.Events&unix.EPOLLIN != 0:
				a.answer(fd, zone)
			case ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0:
				// No process uses the filter any more.
				a.forget(fd)
			}
		}
	}
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// answer receives one notification of listener fd and answers it.
// Whatever cannot be computed is left to the kernel (CONTINUE): the
// process then sees the host's numbers, never an error of zoned's.
func (a *agent) answer(fd int, zone string) {
	var req seccompNotif
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
		// ENOENT: the caller was killed while we woke up.
		return
	}
	if req.Data.Nr == unix.SYS_STATFS {
		// Answered on a goroutine of its own with a copy of the
		// listener (see statfs): the listener may be forgotten before.
		if a.statfsBegin(zone) {
			lfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err == nil {
				go a.statfs(lfd, zone, req)
				return
			}
			a.statfsEnd(zone)
		}
		resp := seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
		_ = ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
		return
	}
	resp := seccompNotifResp{ID: req.ID}
	var err error
	switch req.Data.Nr {
	case unix.SYS_SYSINFO:
		err = a.sysinfo(fd, zone, &req, &resp)
	case unix.SYS_SCHED_GETAFFINITY:
		err = a.affinity(fd, zone, &req, &resp)
	default:
		err = fmt.Errorf("syscall %d is not answered here", req.Data.Nr)
	}
	if err != nil {
		a.log.Debug("seccomp agent: left to the kernel", "zone", zone, "pid", req.Pid, "err", err)
		resp = seccompNotifResp{ID: req.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	}
	// ENOENT: the caller is gone; nothing to answer.
	_ = ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp))
}

// snapCacheFor is how long an answer's snapshot of a zone is reused: a
// zone calling sysinfo in a loop would otherwise make the server read its
// cgroup and every one of its processes' state on each call, spending far
// more CPU outside the zone's limits than the zone spends inside them.
const snapCacheFor = 250 * time.Millisecond

type cachedSnap struct {
	s  *Snapshot
	at time.Time
}

// snapshot is the zone's snapshot, at most snapCacheFor old. Only the
// poll goroutine calls it, so the cache needs no lock.
func (a *agent) snapshot(zone string, caller uint32) (*Snapshot, error) {
	if c, ok := a.snaps[zone]; ok && time.Since(c.at) < snapCacheFor {
		return c.s, nil
	}
	cfg, err := readConfig(configPath(a.state, zone))
	if err != nil {
		return nil, err
	}
	s, err := Snap(zone, cfg, int(caller))
	if err != nil {
		return nil, err
	}
	for z, c := range a.snaps {
		if time.Since(c.at) >= snapCacheFor {
			delete(a.snaps, z)
		}
	}
	a.snaps[zone] = cachedSnap{s: s, at: time.Now()}
	return s, nil
}

// sysinfo answers sysinfo(2) with the zone's memory (as its meminfo
// shows it), uptime, load and process count.
func (a *agent) sysinfo(fd int, zone string, req *seccompNotif, resp *seccompNotifResp) error {
	s, err := a.snapshot(zone, req.Pid)
	if err != nil {
		return err
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return err
	}
	m := MemoryOf(s)
	info.Uptime = int64(s.Uptime)
	for i, l := range s.Load {
		info.Loads[i] = uint64(l * (1 << 16)) // SI_LOAD_SHIFT
	}
	info.Totalram, info.Freeram = m.Total, m.Free
	info.Sharedram, info.Bufferram = m.Shmem, 0
	info.Totalswap, info.Freeswap = m.SwapTotal, m.SwapFree
	info.Procs = uint16(min(s.Tasks, math.MaxUint16))
	info.Totalhigh, info.Freehigh = 0, 0
	info.Unit = 1
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&info)), unsafe.Sizeof(info))
	if err := writeCaller(fd, req, req.Data.Args[0], raw); err != nil {
		resp.Error = -int32(unix.EFAULT)
		return nil
	}
	resp.Val = 0
	return nil
}

// affinity answers sched_getaffinity(0, len, mask): the calling thread's
// real mask, cut to the first as many CPUs as the zone's CPU limit
// allows. The CPUs named are real ones the thread may use, so a program
// that pins its workers to them gets what it asked for.
func (a *agent) affinity(fd int, zone string, req *seccompNotif, resp *seccompNotifResp) error {
	size := req.Data.Args[1]
	if size == 0 || size%8 != 0 {
		resp.Error = -int32(unix.EINVAL)
		return nil
	}
	s, err := a.snapshot(zone, req.Pid)
	if err != nil {
		return err
	}
	// The kernel's mask is at most NR_CPUS bits; 8192 bytes hold 65536.
	mask := make([]byte, min(size, 8192))
	n, _, errno := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, uintptr(req.Pid), uintptr(len(mask)), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		resp.Error = -int32(errno)
		return nil
	}
	mask = mask[:n]
	keep := s.NCPU()
	for i := range mask {
		for bit := 0; bit < 8; bit++ {
			if mask[i]&(1<<bit) == 0 {
				continue
			}
			if keep > 0 {
				keep--
			} else {
				mask[i] &^= 1 << bit
			}
		}
	}
	if err := writeCaller(fd, req, req.Data.Args[2], mask); err != nil {
		resp.Error = -int32(unix.EFAULT)
		return nil
	}
	resp.Val = int64(n)
	return nil
}

// callerMem opens the calling process's memory file. It is opened first
// and the notification checked afterwards (seccomp_unotify(2)): if the
// caller died and its pid was reused in between, the check fails and
// the new process's memory is neither read nor written.
func callerMem(fd int, req *seccompNotif, flag int) (*os.File, error) {
	mem, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", req.Pid), flag, 0)
	if err != nil {
		return nil, err
	}
	id := req.ID
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)); err != nil {
		mem.Close()
		return nil, err
	}
	return mem, nil
}

// writeCaller writes data at addr in the calling process's memory.
func writeCaller(fd int, req *seccompNotif, addr uint64, data []byte) error {
	mem, err := callerMem(fd, req, os.O_WRONLY)
	if err != nil {
		return err
	}
	defer mem.Close()
	if addr > math.MaxInt64 {
		return unix.EFAULT
	}
	_, err = unix.Pwrite(int(mem.Fd()), data, int64(addr))
	return err
}
