package namespaces

// Unprivileged zones: the zone's init is cloned into a new user namespace
// together with its PID, mount, UTS, IPC and network namespaces, so all of
// them are owned by it and root inside (mapped to a range of host IDs no
// one else has) administers them without any power over the host.
//
// The zone's root is an overlay whose lower layer is the shared template,
// owned by host root. Inside the user namespace host root is unmapped (the
// files would show as nobody and root could not write a copy-up), so the
// template is presented through an idmapped mount: a clone of the template
// tree whose owners are shifted by the zone's mapping, without changing a
// byte on disk. Making that clone needs CAP_SYS_ADMIN in the initial user
// namespace, so the daemon builds the zone's whole root mount (the idmapped
// lower layer and the overlay over it) as a detached mount while the new
// zone's first process waits on the sync socket, and passes its descriptor
// over that socket (SCM_RIGHTS). The child attaches it with move_mount
// inside its own mount namespace: the host's mount table never sees it, as
// for privileged zones.
//
// What the kernel must offer, and what happens when it does not:
//   - idmapped mounts (5.12), on the filesystem holding the templates
//     (ext4, xfs since 5.12, btrfs 5.15, tmpfs 6.3);
//   - overlayfs over idmapped lower layers (5.19);
//   - the new mount API (fsopen/fsmount/move_mount, 5.2).
//
// Without them ProbeIDMappedRoot fails with errdefs.ErrUnsupported naming
// the missing piece, and the daemon refuses to create the unprivileged zone
// rather than fall back to chowning a private copy of the template (which
// would end the sharing of the template's files and page cache): the
// operator can still ask for a privileged zone.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/privmount"
)

// RoleUserNS is the re-exec role of the placeholder process that only
// holds a user namespace open (ProbeIDMappedRoot); it exits when its stdin
// closes.
const RoleUserNS = "zoned-userns"

// UserNamespaced reports whether spec asks for a user namespace: it has
// UID and GID mappings.
func UserNamespaced(spec *specs.Spec) bool {
	return spec != nil && spec.Linux != nil && len(spec.Linux.UIDMappings) > 0 && len(spec.Linux.GIDMappings) > 0
}

// SetUserNamespace makes spec describe a zone whose IDs 0..size-1 are the
// host IDs hostID..hostID+size-1: a user namespace and both mappings.
func SetUserNamespace(spec *specs.Spec, hostID, size uint32) {
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: size}}
	spec.Linux.UIDMappings = m
	spec.Linux.GIDMappings = append([]specs.LinuxIDMapping(nil), m...)
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return
		}
	}
	// The user namespace is listed first: it is created first and owns
	// the others.
	spec.Linux.Namespaces = append([]specs.LinuxNamespace{{Type: specs.UserNamespace}}, spec.Linux.Namespaces...)
}

func sysIDMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(m))
	for _, e := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}

// userNSAttr adds the user namespace to a child's clone: Go writes the
// mappings from the parent before the child execs, and the child switches
// to root of the new namespace (its host root would be unmapped there,
// leaving it "nobody" with no capabilities).
func userNSAttr(attr *syscall.SysProcAttr, spec *specs.Spec) {
	attr.Cloneflags |= syscall.CLONE_NEWUSER
	attr.UidMappings = sysIDMap(spec.Linux.UIDMappings)
	attr.GidMappings = sysIDMap(spec.Linux.GIDMappings)
	// setgroups stays allowed: the zone's own login, su and systemd set
	// supplementary groups, all of them inside the mapping.
	attr.GidMappingsEnableSetgroups = true
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
}

// idmappedRootMount builds the zone's root mount m as a detached mount
// whose template layers are idmapped through the user namespace usernsFd,
// and returns its descriptor (close-on-exec). Only "overlay" and "bind"
// roots are supported.
func idmappedRootMount(m specs.Mount, usernsFd int) (int, error) {
	// Overlay's lower layers are attached at paths, inside a mount
	// namespace of one locked OS thread that dies with it: kernels before
	// 6.5 or so refuse a detached mount (named as /proc/self/fd/N) as a
	// layer, Debian 12's 6.1 among them, and attaching them in the
	// daemon's own namespace would put zone mounts in the host's table.
	fd := -1
	err := privmount.Do(func() (err error) {
		fd, err = buildIdmappedRoot(m, usernsFd)
		return err
	})
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// buildIdmappedRoot does idmappedRootMount's work on a thread with a
// private mount namespace.
func buildIdmappedRoot(m specs.Mount, usernsFd int) (int, error) {
	flags, data := parseMountOptions(m.Options)
	if m.Type == "bind" || flags&unix.MS_BIND != 0 {
		fd, err := idmappedTree(m.Source, usernsFd)
		if err != nil {
			return -1, err
		}
		if flags&unix.MS_RDONLY != 0 {
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("make idmapped root %s read-only: %w", m.Source, err)
			}
		}
		return fd, nil
	}
	if m.Type != "overlay" {
		return -1, fmt.Errorf("root of type %q in a user namespace: only overlay and bind roots can be idmapped: %w", m.Type, errdefs.ErrUnsupported)
	}
	// Layers by descriptor keep host paths out of the zone's mountinfo
	// (overlayfd_linux.go); kernels before 6.13 take them by path below.
	if fd, err := overlayFromFds(m, usernsFd); !errors.Is(err, errNoLayerFds) {
		return fd, err
	}
	// This thread is ours alone (privmount): its working directory too.
	data, err := chdirForLayers(data)
	if err != nil {
		return -1, err
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay (new mount API, kernel 5.2+): %w", unsupportedIf(err))
	}
	defer unix.Close(fsfd)
	var lowerFds []int
	defer func() {
		for _, fd := range lowerFds {
			unix.Close(fd)
		}
	}()
	for _, opt := range strings.Split(data, ",") {
		if opt == "" {
			continue
		}
		key, val, hasVal := strings.Cut(opt, "=")
		if key == "lowerdir" {
			// Each template layer is replaced by an idmapped clone of
			// it, named by descriptor: overlay resolves the path when
			// the superblock is created, and a detached mount has no
			// other name.
			var layers []string
			for _, l := range strings.Split(val, ":") {
				fd, err := idmappedTree(l, usernsFd)
				if err != nil {
					return -1, err
				}
				lowerFds = append(lowerFds, fd)
				// Attached over the layer's own directory, in this
				// thread's private namespace only.
				if err := unix.MoveMount(fd, "", unix.AT_FDCWD, l, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
					return -1, fmt.Errorf("attach idmapped layer %s: %w", l, err)
				}
				layers = append(layers, l)
			}
			val = strings.Join(layers, ":")
		}
		if hasVal {
			err = unix.FsconfigSetString(fsfd, key, val)
		} else {
			err = unix.FsconfigSetFlag(fsfd, key)
		}
		if err != nil {
			return -1, fmt.Errorf("overlay option %s: %w", key, fsconfigError(fsfd, err))
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		err = fsconfigError(fsfd, err)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			// Before 5.19 overlayfs refuses idmapped layers with EINVAL.
			return -1, fmt.Errorf("overlay over an idmapped template (overlayfs with idmapped layers, kernel 5.19+): %w: %w", err, errdefs.ErrUnsupported)
		}
		return -1, fmt.Errorf("create overlay root: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, mountAttrs(flags))
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay root: %w", err)
	}
	return mfd, nil
}

// idmappedTree clones the tree at path as a detached mount and idmaps it
// through the user namespace usernsFd.
func idmappedTree(path string, usernsFd int) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return -1, fmt.Errorf("clone mount of %s (open_tree, kernel 5.2+): %w", path, unsupportedIf(err))
	}
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP,
		Userns_fd: uint64(usernsFd),
	})
	if err != nil {
		unix.Close(fd)
		var st unix.Statfs_t
		fs := "its filesystem"
		if unix.Statfs(path, &st) == nil {
			fs = fmt.Sprintf("its filesystem (magic %#x)", st.Type)
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) {
			return -1, fmt.Errorf("idmapped mount of template %s: %w: the kernel (5.12+) or %s does not support idmapped mounts: %w", path, err, fs, errdefs.ErrUnsupported)
		}
		return -1, fmt.Errorf("idmapped mount of template %s: %w", path, err)
	}
	return fd, nil
}

// unsupportedIf marks a missing system call as ErrUnsupported.
func unsupportedIf(err error) error {
	if errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnsupported)
	}
	return err
}

// fsconfigError adds the message the kernel left in the filesystem
// context's log (overlay explains its refusals there) to err.
func fsconfigError(fsfd int, err error) error {
	buf := make([]byte, 512)
	var msgs []string
	for {
		n, rerr := unix.Read(fsfd, buf)
		if rerr != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(msgs, "; "))
}

// attachRoot puts the detached root mount fd at dest in this (the zone's)
// mount namespace.
func attachRoot(fd int, dest string) error {
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dest, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach idmapped root at %s: %w", dest, err)
	}
	unix.Close(fd)
	return nil
}

// prepareUserNSRoot opens the user namespace of the waiting child pid and
// builds the zone's idmapped root mount for it.
func prepareUserNSRoot(pid int, m specs.Mount) (int, error) {
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open user namespace of pid %d: %w", pid, err)
	}
	defer unix.Close(ns)
	return idmappedRootMount(m, ns)
}

// ProbeIDMappedRoot checks that this host can give a zone with spec's ID
// mappings the root m: it builds the idmapped root mount once for a
// throwaway user namespace with the same mappings and drops it. An error
// wraps ErrUnsupported when the kernel or the templates' filesystem lacks
// what is needed, naming it. binary "" means SealedBinary().
func ProbeIDMappedRoot(spec *specs.Spec, m specs.Mount, binary string) error {
	if !UserNamespaced(spec) {
		return fmt.Errorf("probe idmapped root: spec has no ID mappings: %w", errdefs.ErrInvalid)
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		return fmt.Errorf("user namespaces (CONFIG_USER_NS): %w", errdefs.ErrUnsupported)
	}
	if binary == "" {
		var err error
		if binary, err = SealedBinary(); err != nil {
			return err
		}
	}
	stdin, hold, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("probe idmapped root: %w", err)
	}
	defer hold.Close()
	attr := &syscall.SysProcAttr{}
	userNSAttr(attr, spec)
	cmd := &exec.Cmd{Path: binary, Args: []string{RoleUserNS}, Env: []string{}, Stdin: stdin, SysProcAttr: attr}
	err = cmd.Start()
	stdin.Close()
	if err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) {
			return fmt.Errorf("create a user namespace: %w: %w", err, errdefs.ErrUnsupported)
		}
		return fmt.Errorf("probe idmapped root: start user namespace holder: %w", err)
	}
	defer func() {
		hold.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	fd, err := prepareUserNSRoot(cmd.Process.Pid, m)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// userNSHoldMain is the RoleUserNS process: it exists only so that its
// user namespace can be opened, and ends when its parent closes stdin.
func userNSHoldMain() {
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
