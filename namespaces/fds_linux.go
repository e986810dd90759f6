package namespaces

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseOnExecFrom marks every open descriptor numbered first or higher
// close-on-exec. A process started by a shell or a service manager
// inherits whatever descriptors its parent left open without
// close-on-exec (a shell's redirections, a leaked directory handle), and
// every child it starts inherits them again: a zone's first process, or a
// command exec'd into a zone, holding a directory of the host can reach
// the host's tree through /proc/self/fd/N (CVE-2024-21626). Go opens its
// own descriptors close-on-exec, so after this only what exec.Cmd hands
// over deliberately (stdio, ExtraFiles) reaches a child. The descriptors
// stay usable in this process (systemd's LISTEN_FDS sockets, say).
func CloseOnExecFrom(first int) error {
	err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range(%d, ~0, CLOSE_RANGE_CLOEXEC): %w", first, err)
	}
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk the table.
	return closeOnExecByWalk(first)
}

// closeOnExecByWalk is CloseOnExecFrom without close_range: it marks the
// descriptors /proc/self/fd lists. Opening the directory adds one
// descriptor of its own, close-on-exec already.
func closeOnExecByWalk(first int) error {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("list open descriptors: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < first {
			continue
		}
		// EBADF: the directory's own descriptor, closed meanwhile.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark descriptor %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
