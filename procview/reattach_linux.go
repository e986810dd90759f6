package procview

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A zone's view files are bind mounts, in the zone's mount namespace, of
// files of the view's FUSE mount. When the server dies, the kernel aborts
// its connection and those bind mounts answer ENOTCONN ("Transport
// endpoint is not connected") for good: a new server's mount is another
// mount, which the zone's bind mounts do not follow. Reattach puts the
// new mount's files in their place.

// Reattach replaces zone's view files in the mount namespace of its init
// (initPID, which started initStart ticks after boot) with bind mounts of
// the files the view serves now. A place that holds a dead view's mount
// loses it; a place that holds a live FUSE mount is left alone; any
// other place (the zone started without the view) gets the view.
//
// Mounts of processes of the zone that made mount namespaces of their
// own (a service manager's private ones) are not the init's: they keep
// what they had, unless their place propagates from the init's.
func Reattach(state, zone string, initPID int, initStart uint64) error {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", initPID), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("re-attach the view of zone %q: mount namespace of its init: %w", zone, err)
	}
	defer unix.Close(ns)
	// The namespace is the init's only if the PID was not reused in
	// between: checked after it was opened.
	if ticks, err := StartTicks(initPID); err != nil || ticks != initStart {
		return fmt.Errorf("re-attach the view of zone %q: its init %d is gone", zone, initPID)
	}
	names := make([]string, 0, len(Files))
	for n := range Files {
		names = append(names, n)
	}
	sort.Strings(names)
	trees := make([]int, 0, len(names))
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	for _, n := range names {
		// A detached copy of the file's mount, made here where the
		// view's mount is, and moved into the zone's namespace below.
		fd, err := unix.OpenTree(unix.AT_FDCWD, filepath.Join(ZoneDir(state, zone), n), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("re-attach the view of zone %q: open_tree %s (needs Linux 5.2): %w", zone, n, err)
		}
		trees = append(trees, fd)
		// As the zone's spec binds them: ro, nosuid, nodev, noexec.
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
			return fmt.Errorf("re-attach the view of zone %q: mount_setattr %s (needs Linux 5.12): %w", zone, n, err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		// The thread enters the zone's mount namespace and, like
		// privmount's, goes home before Go ends it: a parked main
		// thread must not keep the zone's namespace alive.
		runtime.LockOSThread()
		errc <- inMountNS(ns, func() error {
			for i, n := range names {
				if err := replaceView(Files[n], trees[i]); err != nil {
					return fmt.Errorf("%s: %w", Files[n], err)
				}
			}
			return nil
		})
	}()
	// A zone's mount that hangs (its own FUSE server stuck) must not
	// hold the caller forever; the thread is left to it.
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("re-attach the view of zone %q: %w", zone, err)
		}
		return nil
	case <-time.After(reattachTimeout):
		return fmt.Errorf("re-attach the view of zone %q: no answer from its mounts within %v", zone, reattachTimeout)
	}
}

const reattachTimeout = 10 * time.Second

// inMountNS runs fn on the calling goroutine, locked to its thread, in
// the mount namespace ns, and takes the thread back home afterwards.
func inMountNS(ns int, fn func() error) error {
	home, err := unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(home)
	// setns(CLONE_NEWNS) wants a thread that shares its root and working
	// directory with no other.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("enter mount namespace: %w", err)
	}
	defer func() { _ = unix.Setns(home, unix.CLONE_NEWNS) }()
	return fn()
}

// replaceView drops dead view mounts from dest (ENOTCONN) and moves tree
// onto it, unless a live FUSE mount is there already.
func replaceView(dest string, tree int) error {
	for i := 0; ; i++ {
		var st unix.Statfs_t
		err := unix.Statfs(dest, &st)
		if errors.Is(err, unix.ENOTCONN) && i < 16 {
			if err := unix.Unmount(dest, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
				return fmt.Errorf("unmount the dead view: %w", err)
			}
			continue
		}
		if err != nil {
			return err
		}
		if st.Type == unix.FUSE_SUPER_MAGIC {
			return nil
		}
		break
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// ServedZone is a running zone the view serves, as its config says.
type ServedZone struct {
	Name string
	Config
}

// Served lists the zones whose config the view holds.
func Served(state string) []ServedZone {
	ents, _ := os.ReadDir(zonesDir(state))
	var out []ServedZone
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if cfg, err := readConfig(configPath(state, name)); err == nil {
			out = append(out, ServedZone{Name: name, Config: cfg})
		}
	}
	return out
}

// WatchServer returns a channel closed when the view server pid ends; pid
// must be a view server (checked after a handle on it was taken, so a
// reused PID is not watched). stop ends the watch early.
func WatchServer(pid int, stop <-chan struct{}) (<-chan struct{}, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("watch view server %d: pidfd_open (needs Linux 5.3): %w", pid, err)
	}
	if !isViewfs(pid) {
		unix.Close(fd)
		return nil, fmt.Errorf("watch view server %d: %w", pid, errNotServing)
	}
	done := make(chan struct{})
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			// A pidfd is readable once its process has ended. The
			// timeout only lets stop be seen.
			n, err := unix.Poll(fds, 1000)
			if n > 0 || (err != nil && err != unix.EINTR) {
				close(done)
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	return done, nil
}
