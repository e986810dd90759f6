package namespaces

// Who owns an unprivileged zone's user namespace. The kernel counts the
// namespaces, inotify and fanotify objects made in a user namespace for
// each (namespace, user ID) and again, one level up, for the namespace's
// owner: the effective UID of the process that created it. Created by the
// daemon as host root, every zone's user namespace had host root as its
// owner, so all zones together shared host root's per-user maxima with
// host root itself: fs.inotify.max_user_instances is 128 by default, and a
// zone holding them left other zones' systemd, and the host's own root
// daemons, without inotify (EMFILE). Created from a thread whose
// effective UID is the zone's base host ID, the namespace is owned by
// that ID, which no host user has (manager.IDMapBase): each zone is then
// counted apart, against the host's per-user maxima, as any host user is.
// One more effect: a namespace created by a UID other than 0 caps its
// processes, all the zone's IDs together, at the creator's RLIMIT_NPROC
// (the daemon's; for root the kernel's default, half of threads-max),
// far above any pids limit a zone gets.

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startOwnedBy starts cmd, whose clone creates a user namespace, from an
// OS thread whose effective UID is owner, so that owner owns the new
// namespace. The thread's credentials are changed for this alone: it runs
// nothing else, and the goroutine ends still locked to it, which makes
// the Go runtime end the thread too.
func startOwnedBy(cmd *exec.Cmd, owner int) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- startAs(cmd, owner)
	}()
	return <-errc
}

func startAs(cmd *exec.Cmd, owner int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	// setresuid(2) of this thread only: syscall.Setresuid would change
	// every thread of the daemon.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(owner), ^uintptr(0)); e != 0 {
		return fmt.Errorf("set effective UID %d to create the zone's user namespace: %w", owner, e)
	}
	// Leaving effective UID 0 emptied the effective set; the permitted
	// one stays, as the real and saved UIDs are still 0. Writing the
	// child's ID maps needs CAP_SETUID and CAP_SETGID again.
	caps[0].Effective, caps[1].Effective = caps[0].Permitted, caps[1].Permitted
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("restore capabilities as UID %d: %w", owner, err)
	}
	return cmd.Start()
}

// startInit starts the zone's init: for a zone in a user namespace, from
// the host ID of the zone's root, which then owns the namespace.
func startInit(cmd *exec.Cmd, cfg *InitConfig) error {
	if !cfg.UserNS {
		return cmd.Start()
	}
	for _, m := range cfg.Spec.Linux.UIDMappings {
		if m.ContainerID == 0 && m.HostID != 0 {
			return startOwnedBy(cmd, int(m.HostID))
		}
	}
	// A spec that maps the zone's root to host root gains nothing from
	// another owner.
	return cmd.Start()
}
