package namespaces

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// procStatFields returns the fields of /proc/PID/stat from field 3 (the
// state) on: fields[0] is field 3, so field N is fields[N-3].
func procStatFields(pid int) ([][]byte, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// comm (field 2) may hold spaces and parentheses: the fields after it
	// start behind the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no comm", pid)
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

// procStat returns the state letter and the start time (field 22, in clock
// ticks since boot) of pid from /proc/PID/stat.
func procStat(pid int) (byte, uint64, error) {
	fields, err := procStatFields(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := strconv.ParseUint(string(fields[22-3]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return fields[0][0], st, nil
}

// StartTime reads the start time of pid (field 22 of /proc/PID/stat).
func StartTime(pid int) (uint64, error) {
	_, st, err := procStat(pid)
	return st, err
}

// Alive reports whether the process pid that started at startTime still
// runs. A zombie counts as dead: it will never run again.
func Alive(pid int, startTime uint64) bool {
	state, st, err := procStat(pid)
	return err == nil && st == startTime && state != 'Z' && state != 'X'
}

// openPidfd returns a pidfd for pid, checked to name the process started
// at startTime. The check comes after the open: a pidfd always refers to the
// process it was opened for, so if that process still has the expected
// start time the pidfd cannot point at a newcomer that reused the pid.
func openPidfd(pid int, startTime uint64) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, fmt.Errorf("process %d: %w", pid, os.ErrProcessDone)
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if !Alive(pid, startTime) {
		unix.Close(fd)
		return -1, fmt.Errorf("process %d (start time %d): %w", pid, startTime, os.ErrProcessDone)
	}
	return fd, nil
}

// Signal sends sig to the process pid only if it is the one that started
// at startTime, so a recycled pid is never hit. It is how the daemon
// signals a zone init it did not spawn itself (adopted after a restart).
func Signal(pid int, startTime uint64, sig syscall.Signal) error {
	fd, err := openPidfd(pid, startTime)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %v to process %d: %w", sig, pid, err)
	}
	return nil
}

// WaitExited blocks until the process pid started at startTime has exited
// and returns how it ended when the kernel still tells a process that is
// not its parent (known false otherwise). It is how the daemon learns that
// a zone init it adopted after a restart asked for a reboot:
//
//   - while the parent has not reaped it, the zombie's /proc/PID/stat
//     holds its wait status (field 52, exit_code);
//   - after the reap, Linux 6.15+ keeps it for pidfd holders
//     (PIDFD_GET_INFO with PIDFD_INFO_EXIT).
//
// Older kernels whose reaper is quick (systemd reaps orphans at once)
// leave the status unknown.
func WaitExited(pid int, startTime uint64) (st ExitStatus, known bool, err error) {
	fd, err := openPidfd(pid, startTime)
	if err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return ExitStatus{}, false, nil
		}
		return ExitStatus{}, false, err
	}
	defer unix.Close(fd)
	for {
		// A pidfd polls readable once its process has exited.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ExitStatus{}, false, fmt.Errorf("poll pidfd of %d: %w", pid, err)
		}
		break
	}
	if st, ok := zombieStatus(pid, startTime); ok {
		return st, true, nil
	}
	// Reaped, or about to be: the pidfd's exit information appears with
	// the reap. A parent that never reaps leaves a zombie, read above.
	for i := 0; i < 20; i++ {
		if st, ok, supported := pidfdExitStatus(fd); ok {
			return st, true, nil
		} else if !supported {
			break
		}
		if st, ok := zombieStatus(pid, startTime); ok {
			return st, true, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return ExitStatus{}, false, nil
}

// zombieStatus reads the wait status of pid from its /proc/PID/stat if it
// is the zombie of the process started at startTime.
func zombieStatus(pid int, startTime uint64) (ExitStatus, bool) {
	fields, err := procStatFields(pid)
	// exit_code is field 52 (Linux 3.5+).
	if err != nil || len(fields) < 52-2 || fields[0][0] != 'Z' || string(fields[22-3]) != strconv.FormatUint(startTime, 10) {
		return ExitStatus{}, false
	}
	code, err := strconv.Atoi(string(fields[52-3]))
	if err != nil {
		return ExitStatus{}, false
	}
	return exitStatusOf(syscall.WaitStatus(code)), true
}

// struct pidfd_info as Linux 6.15 first published it (PIDFD_INFO_SIZE_VER0,
// include/uapi/linux/pidfd.h); the kernel fills what fits.
type pidfdInfo struct {
	Mask     uint64
	CgroupID uint64
	Pid      uint32
	Tgid     uint32
	Ppid     uint32
	Ruid     uint32
	Rgid     uint32
	Euid     uint32
	Egid     uint32
	Suid     uint32
	Sgid     uint32
	Fsuid    uint32
	Fsgid    uint32
	ExitCode int32
}

const (
	// PIDFD_GET_INFO = _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info)
	pidfdGetInfo  = 0xC0000000 | uint(unsafe.Sizeof(pidfdInfo{}))<<16 | 0xFF<<8 | 11
	pidfdInfoExit = 1 << 3
)

// pidfdExitStatus asks the kernel for the exit status kept on a pidfd of
// a reaped process. supported is false where the kernel has no such
// information (before 6.15).
func pidfdExitStatus(fd int) (st ExitStatus, ok, supported bool) {
	info := pidfdInfo{Mask: pidfdInfoExit}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(pidfdGetInfo), uintptr(unsafe.Pointer(&info)))
	switch {
	case errno == unix.ENOTTY || errno == unix.EINVAL || errno == unix.EOPNOTSUPP:
		return ExitStatus{}, false, false
	case errno != 0 || info.Mask&pidfdInfoExit == 0:
		// ESRCH: exited but not reaped yet.
		return ExitStatus{}, false, true
	}
	return exitStatusOf(syscall.WaitStatus(info.ExitCode)), true, true
}

// exitStatusOf turns a wait status into an ExitStatus as Init.Wait does.
func exitStatusOf(ws syscall.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// resetOOMScore gives a zone's first process (and an exec helper, before it
// forks the command) the kernel's default OOM score adjustment, from the
// daemon's side while the child still waits. Children inherit the
// daemon's value, and a service manager may protect the daemon
// (zoned.service has OOMScoreAdjust=-500): customers' processes must not
// inherit that protection over the host's own. Only a protection is
// undone: raising the value needs no privilege, and a daemon deliberately
// made a preferred OOM victim passes that on.
func resetOOMScore(pid int) error {
	path := fmt.Sprintf("/proc/%d/oom_score_adj", pid)
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read oom_score_adj of %d: %w", pid, err)
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(cur))); err == nil && v >= 0 {
		return nil
	}
	if err := os.WriteFile(path, []byte("0"), 0); err != nil {
		return fmt.Errorf("reset oom_score_adj of %d: %w", pid, err)
	}
	return nil
}
