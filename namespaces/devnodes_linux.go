package namespaces

// The optional device nodes a zone asked for (tun, fuse) are made by the
// daemon in the zone's directory and bound into the zone's /dev. A bind
// mount shows, in the zone's /proc/self/mountinfo, its source's path in
// the filesystem holding it: bound from the zone's directory, that is the
// host's data dir ("/var/lib/zoned/zones/NAME/dev/tun"). So the daemon
// copies the nodes into a detached tmpfs of their own and hands it to the
// zone's init with its "go"; bound from there, a node's mount shows
// "/tun". The tmpfs is made in the initial user namespace, where device
// nodes work (one a user-namespaced zone mounted itself could not hold
// usable nodes, nor could it make any).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// deviceNodesMount returns a detached tmpfs (close-on-exec descriptor)
// holding a copy of every character device node in dir, with the same
// mode and owner.
func deviceNodesMount(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return -1, fmt.Errorf("device nodes: %w", err)
	}
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("device nodes: fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	if err := setFsOptions(fsfd, []string{"mode=755", "size=64k"}); err != nil {
		return -1, fmt.Errorf("device nodes: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("device nodes: create tmpfs: %w", fsconfigError(fsfd, err))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("device nodes: fsmount tmpfs: %w", err)
	}
	for _, e := range entries {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, e.Name()), &st); err != nil {
			unix.Close(mfd)
			return -1, fmt.Errorf("device nodes: %w", err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR {
			continue
		}
		name := e.Name()
		err := unix.Mknodat(mfd, name, unix.S_IFCHR|(st.Mode&0o777), int(st.Rdev))
		if err == nil {
			err = unix.Fchownat(mfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err == nil {
			// mknod applied the umask.
			err = unix.Fchmodat(mfd, name, st.Mode&0o777, 0)
		}
		if err != nil {
			unix.Close(mfd)
			return -1, fmt.Errorf("device nodes: copy %s: %w", name, err)
		}
	}
	return mfd, nil
}

// attachDeviceNodes puts the detached tmpfs fd at a fresh directory in
// the zone's (new) /dev and returns its host path, and a function that
// detaches it again once the nodes are bound.
func (z *zoneRoot) attachDeviceNodes(fd int) (string, func() error, error) {
	dir, err := z.resolve("/dev/.zoned-devices")
	if err != nil {
		return "", nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("device nodes: %w", err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("device nodes: attach at %s: %w", dir, err)
	}
	unix.Close(fd)
	return dir, func() error {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("device nodes: detach %s: %w", dir, err)
		}
		return os.Remove(dir)
	}, nil
}

// Descriptors that may come with the parent's "go" (syncMsg.Fds names
// them in the order of the SCM_RIGHTS message).
const (
	goFdRoot    = "root"    // the idmapped root mount (userns_linux.go)
	goFdDevices = "devices" // the device nodes' tmpfs
)

// sendGo releases the waiting child and hands it the descriptors in fds
// (by name, see goFdRoot) in the same message.
func sendGo(sock *os.File, fds map[string]int) error {
	m := syncMsg{Type: "go"}
	var rights []int
	for _, name := range []string{goFdRoot, goFdDevices} {
		if fd, ok := fds[name]; ok && fd >= 0 {
			m.Fds = append(m.Fds, name)
			rights = append(rights, fd)
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if len(rights) == 0 {
		_, err := sock.Write(data)
		return err
	}
	rc, err := sock.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), data, unix.UnixRights(rights...), nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

// recvGo waits for the parent's "go" and returns the descriptors that
// came with it, by name (close-on-exec).
func recvGo(sock *os.File) (map[string]int, error) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("wait for parent: %w", err)
	}
	var m syncMsg
	if err := json.Unmarshal(buf[:n], &m); err != nil || m.Type != "go" {
		return nil, fmt.Errorf("wait for parent: %v (message %q)", err, buf[:n])
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return nil, fmt.Errorf("wait for parent: bad descriptors with go (%v)", err)
		}
		if fds, err = unix.ParseUnixRights(&msgs[0]); err != nil {
			return nil, fmt.Errorf("wait for parent: bad descriptors with go (%v)", err)
		}
	}
	if len(fds) != len(m.Fds) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("wait for parent: go names %v but carries %d descriptors", m.Fds, len(fds))
	}
	out := make(map[string]int, len(fds))
	for i, name := range m.Fds {
		out[name] = fds[i]
	}
	return out, nil
}
