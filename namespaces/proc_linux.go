package namespaces

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat returns the state letter and the start time (field 22, in clock
// ticks since boot) of pid from /proc/PID/stat.
func procStat(pid int) (byte, uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// comm (field 2) may hold spaces and parentheses: the fields after it
	// start behind the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: no comm", pid)
	}
	fields := bytes.Fields(data[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	st, err := strconv.ParseUint(string(fields[19]), 10, 64)
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
// (it may still be a zombie). It works for processes that are not our
// children, such as zone inits adopted after a daemon restart.
func WaitExited(pid int, startTime uint64) error {
	fd, err := openPidfd(pid, startTime)
	if err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
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
			return fmt.Errorf("poll pidfd of %d: %w", pid, err)
		}
		return nil
	}
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
