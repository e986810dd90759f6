package namespaces

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupRootfs builds the zone's mount tree under the root path, still
// seeing the host's tree (the pivot comes later). The order matters:
//  1. / becomes rprivate first, so nothing mounted here propagates back
//     into the host's mount namespace through shared peer groups.
//  2. The root is mounted, so everything else lands on the zone's root and
//     not underneath it in the host directory.
//  3. /proc and /sys come before the masks and read-only paths that live
//     in them, and /sys before /sys/fs/cgroup.
//  4. /dev is a fresh tmpfs with nodes bind-mounted from the host: binding
//     works under a user namespace too, where mknod is refused.
//  5. Extra mounts from the spec come after zoned's own, so a spec can add
//     to the tree but masks and read-only paths are applied last and
//     cannot be undone by an extra mount.
func setupRootfs(cfg *InitConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / rprivate: %w", err)
	}
	root := cfg.RootMount.Destination
	if cfg.UserNS {
		// The parent built the root (idmapped) for our user namespace.
		if err := attachRoot(cfg.rootFd, root); err != nil {
			return err
		}
	} else if err := mountRoot(cfg.RootMount); err != nil {
		return err
	}
	z := &zoneRoot{root: root}
	// Plain kernel filesystems first.
	for _, m := range []mnt{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		// A sysfs mounted from inside a new network namespace shows that
		// namespace's network devices. Read-only: /sys is host-wide.
		{"sysfs", "/sys", "sysfs", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		if err := z.mount(m); err != nil {
			return err
		}
	}
	if err := z.mountCgroups(cfg.CgroupV2); err != nil {
		return err
	}
	var extraDevices []specs.LinuxDevice
	if cfg.Spec.Linux != nil {
		extraDevices = cfg.Spec.Linux.Devices
	}
	if err := z.setupDev(extraDevices, cfg.DevicesDir, cfg.devicesFd); err != nil {
		return err
	}
	for _, m := range cfg.Spec.Mounts {
		if err := z.mountSpec(m); err != nil {
			return err
		}
	}
	if cfg.Spec.Linux != nil {
		for _, p := range cfg.Spec.Linux.ReadonlyPaths {
			if err := z.readonly(p); err != nil {
				return err
			}
			if p == "/proc/sys" {
				if err := z.writableNetSysctls(); err != nil {
					return err
				}
			}
		}
		for _, p := range cfg.Spec.Linux.MaskedPaths {
			if err := z.mask(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// mountRoot mounts the zone's root at its destination, inside the zone's
// mount namespace only.
func mountRoot(m specs.Mount) error {
	if m.Type == "overlay" {
		// Layers by descriptor keep host paths out of the zone's
		// mountinfo (overlayfd_linux.go); older kernels take paths.
		fd, err := overlayFromFds(m, -1)
		if err == nil {
			return attachRoot(fd, m.Destination)
		}
		if !errors.Is(err, errNoLayerFds) {
			return err
		}
	}
	flags, data := parseMountOptions(m.Options)
	fstype := m.Type
	if fstype == "bind" || flags&unix.MS_BIND != 0 {
		flags |= unix.MS_BIND
		fstype = ""
	}
	if fstype == "overlay" {
		var err error
		if data, err = chdirForLayers(data); err != nil {
			return err
		}
	}
	src := m.Source
	if src == "" {
		src = fstype
	}
	if err := unix.Mount(src, m.Destination, fstype, flags&^unix.MS_RDONLY, data); err != nil {
		return fmt.Errorf("mount root %s (%s) at %s: %w", src, m.Type, m.Destination, err)
	}
	// A bind mount takes MS_RDONLY only on a remount.
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", m.Destination, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil && flags&unix.MS_BIND != 0 {
			return fmt.Errorf("remount root %s read-only: %w", m.Destination, err)
		}
	}
	return nil
}

// zoneRoot mounts things at paths inside a zone root that is not yet /.
type zoneRoot struct{ root string }

type mnt struct {
	source, dest, fstype string
	flags                uintptr
	data                 string
}

// resolve returns the host path of the zone path p. Symlinks inside the
// zone's root are followed as if the root were /, so a guest's symlink
// (/dev -> /etc, say) can never redirect a mount to the host.
func (z *zoneRoot) resolve(p string) (string, error) {
	return secureJoin(z.root, p)
}

// mount mounts m at m.dest inside the zone, creating the mount point (a
// directory, or a file when binding a non-directory).
func (z *zoneRoot) mount(m mnt) error {
	dest, err := z.resolve(m.dest)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.dest, err)
	}
	isFile := false
	if m.flags&unix.MS_BIND != 0 {
		if fi, err := os.Stat(m.source); err == nil && !fi.IsDir() {
			isFile = true
		}
	}
	if err := makeMountpoint(dest, isFile); err != nil {
		return fmt.Errorf("mount %s: %w", m.dest, err)
	}
	if err := unix.Mount(m.source, dest, m.fstype, m.flags&^unix.MS_RDONLY|ifNotBind(m.flags), m.data); err != nil {
		return fmt.Errorf("mount %s (%s) at %s: %w", m.source, m.fstype, m.dest, err)
	}
	if m.flags&unix.MS_BIND != 0 && m.flags&unix.MS_RDONLY != 0 {
		if err := remountReadonly(dest); err != nil {
			return fmt.Errorf("mount %s: %w", m.dest, err)
		}
	}
	return nil
}

// ifNotBind keeps MS_RDONLY for a fresh mount, where the kernel honours it;
// bind mounts need a separate remount.
func ifNotBind(flags uintptr) uintptr {
	if flags&unix.MS_BIND == 0 {
		return flags & unix.MS_RDONLY
	}
	return 0
}

// remountReadonly makes the bind mount at path read-only, keeping the
// nosuid/nodev/noexec flags it has: a remount drops flags not passed.
func remountReadonly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if err := unix.Mount("", path, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|keep, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", path, err)
	}
	return nil
}

func makeMountpoint(dest string, isFile bool) error {
	if isFile {
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	}
	return os.MkdirAll(dest, 0o755)
}

// mountSpec applies an extra mount from the spec.
func (z *zoneRoot) mountSpec(m specs.Mount) error {
	flags, data := parseMountOptions(m.Options)
	fstype := m.Type
	if fstype == "bind" || flags&unix.MS_BIND != 0 {
		flags |= unix.MS_BIND
		fstype = ""
	}
	if fstype == "overlay" {
		var err error
		if data, err = chdirForLayers(data); err != nil {
			return err
		}
	}
	prop := flags & (unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_SHARED | unix.MS_UNBINDABLE)
	flags &^= prop
	if err := z.mount(mnt{m.Source, m.Destination, fstype, flags, data}); err != nil {
		return err
	}
	if prop != 0 {
		dest, _ := z.resolve(m.Destination)
		if err := unix.Mount("", dest, "", prop|flags&unix.MS_REC, ""); err != nil {
			return fmt.Errorf("set propagation of %s: %w", m.Destination, err)
		}
	}
	return nil
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"bind":        {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"private": {false, unix.MS_PRIVATE}, "rprivate": {false, unix.MS_PRIVATE | unix.MS_REC},
	"slave": {false, unix.MS_SLAVE}, "rslave": {false, unix.MS_SLAVE | unix.MS_REC},
	"shared": {false, unix.MS_SHARED}, "rshared": {false, unix.MS_SHARED | unix.MS_REC},
	"unbindable": {false, unix.MS_UNBINDABLE}, "runbindable": {false, unix.MS_UNBINDABLE | unix.MS_REC},
	"defaults": {false, 0},
}

// parseMountOptions splits fstab-style options into mount flags and the
// filesystem-specific data string.
func parseMountOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// mountCgroups presents the zone's cgroups at /sys/fs/cgroup. Mounted from
// inside the zone's cgroup namespace, every hierarchy shows the zone's own
// cgroup as its root.
func (z *zoneRoot) mountCgroups(v2 bool) error {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if v2 {
		// Writable, so systemd inside can manage its subtree. The zone
		// cannot raise its own limits: on a host that mounts cgroup2 with
		// nsdelegate (systemd does) the interface files of a cgroup
		// namespace's root are not writable from inside it.
		return z.mount(mnt{"cgroup2", "/sys/fs/cgroup", "cgroup2", flags, ""})
	}
	if err := z.mount(mnt{"tmpfs", "/sys/fs/cgroup", "tmpfs", flags, "mode=755,size=64k"}); err != nil {
		return err
	}
	hier, err := v1Hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hier {
		dir := h
		opts := h
		ro := uintptr(unix.MS_RDONLY)
		if strings.HasPrefix(h, "name=") {
			dir = strings.TrimPrefix(h, "name=")
			opts = "none," + h
			// systemd as PID 1 needs its own named hierarchy writable to
			// track services; it holds no resource limits.
			ro = 0
		}
		// Controller hierarchies are read-only: in v1 the zone's root
		// cgroup files would otherwise let the zone raise its own limits.
		if err := z.mount(mnt{"cgroup", "/sys/fs/cgroup/" + dir, "cgroup", flags | ro, opts}); err != nil {
			return err
		}
		// Co-mounted controllers ("cpu,cpuacct") also get a symlink per
		// controller, as on the host.
		if parts := strings.Split(dir, ","); len(parts) > 1 {
			for _, p := range parts {
				link, err := z.resolve("/sys/fs/cgroup/" + p)
				if err != nil {
					return err
				}
				if err := os.Symlink(dir, link); err != nil && !os.IsExist(err) {
					return fmt.Errorf("link cgroup controller %s: %w", p, err)
				}
			}
		}
	}
	// A hybrid host (v1 controllers plus an empty cgroup2 at
	// /sys/fs/cgroup/unified) is what systemd calls "hybrid": give the
	// zone the same layout.
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		if err := z.mount(mnt{"cgroup2", "/sys/fs/cgroup/unified", "cgroup2", flags, ""}); err != nil {
			return err
		}
	}
	dest, err := z.resolve("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	return remountTmpfsReadonly(dest)
}

// remountTmpfsReadonly freezes the /sys/fs/cgroup tmpfs once its mount
// points exist, so the zone cannot add fake hierarchies.
func remountTmpfsReadonly(dest string) error {
	if err := unix.Mount("", dest, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return fmt.Errorf("remount /sys/fs/cgroup read-only: %w", err)
	}
	return nil
}

// v1Hierarchies lists the host's cgroup v1 hierarchies from
// /proc/self/cgroup ("cpu,cpuacct", "memory", "name=systemd", ...).
func v1Hierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue // the cgroup2 line "0::/path"
		}
		out = append(out, parts[1])
	}
	return out, sc.Err()
}

// hostDevices are bind-mounted from the host into the zone's /dev.
var hostDevices = []string{"null", "zero", "full", "random", "urandom", "tty"}

func (z *zoneRoot) setupDev(extra []specs.LinuxDevice, devicesDir string, devicesFd int) (err error) {
	if err := z.mount(mnt{"tmpfs", "/dev", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"}); err != nil {
		return err
	}
	for _, d := range hostDevices {
		if err := z.mount(mnt{"/dev/" + d, "/dev/" + d, "", unix.MS_BIND, ""}); err != nil {
			return err
		}
	}
	// Optional devices the zone asked for (spec.Linux.Devices): bound from
	// nodes the daemon made for the zone (or the host's own), never
	// created here, so this works under a user namespace too. Only paths
	// under /dev are honoured, and the source must be the node the spec
	// names. The daemon's nodes come as a tmpfs of their own, so the
	// zone's mountinfo does not show where on the host they were made
	// (devnodes_linux.go).
	if devicesFd >= 0 {
		dir, detach, err := z.attachDeviceNodes(devicesFd)
		if err != nil {
			return err
		}
		devicesDir = dir
		defer func() {
			if derr := detach(); err == nil {
				err = derr
			}
		}()
	}
	for _, d := range extra {
		if !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") {
			return fmt.Errorf("device %s is not under /dev", d.Path)
		}
		src := d.Path
		if devicesDir != "" {
			src = filepath.Join(devicesDir, filepath.Base(d.Path))
		}
		var st unix.Stat_t
		if err := unix.Stat(src, &st); err != nil {
			return fmt.Errorf("device %s: no node at %s: %w", d.Path, src, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || int64(unix.Major(st.Rdev)) != d.Major || int64(unix.Minor(st.Rdev)) != d.Minor {
			return fmt.Errorf("device %s: %s is not char %d:%d", d.Path, src, d.Major, d.Minor)
		}
		if err := z.mount(mnt{src, d.Path, "", unix.MS_BIND, ""}); err != nil {
			return err
		}
	}
	for _, m := range []mnt{
		// A private devpts instance: the zone sees only its own ptys, and
		// /dev/ptmx below points at this instance's multiplexer.
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"shm", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "mode=1777,size=65536k"},
		// The new IPC namespace's POSIX message queues.
		{"mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		if err := z.mount(m); err != nil {
			return err
		}
	}
	for _, l := range [][2]string{
		{"pts/ptmx", "/dev/ptmx"},
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	} {
		dest, err := z.resolve(l[1])
		if err != nil {
			return err
		}
		if err := os.Symlink(l[0], dest); err != nil {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	// The console is the PTY slave on our stdin, if there is one.
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err != nil {
		return nil // no console given (stdin is /dev/null)
	}
	src, err := consolePath()
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := z.mount(mnt{src, "/dev/console", "", unix.MS_BIND, ""}); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

// consolePath finds, in this mount namespace, the path of the PTY slave on
// stdin. It cannot be bound through /proc/self/fd/0 (the descriptor's mount
// belongs to the daemon's namespace, and the kernel refuses a bind source
// from another namespace), nor by the text readlink gives (printed from
// that namespace's root, which need not be ours: "/newroot/dev/pts/0" on a
// host that chrooted into its root). So: the entry with the terminal's
// rdev in a devpts mount of ours with the terminal's device number.
func consolePath() (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err != nil {
		return "", fmt.Errorf("stat the terminal on stdin: %w", err)
	}
	maj, mnr := int(unix.Major(st.Dev)), int(unix.Minor(st.Dev))
	devpts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "devpts" || m.Major != maj || m.Minor != mnr, false
	})
	if err != nil {
		return "", err
	}
	for _, m := range devpts {
		entries, err := os.ReadDir(m.Mountpoint)
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(m.Mountpoint, e.Name())
			var pst unix.Stat_t
			if unix.Stat(p, &pst) == nil && pst.Mode&unix.S_IFMT == unix.S_IFCHR && pst.Rdev == st.Rdev {
				return p, nil
			}
		}
	}
	devno := fmt.Sprintf("%d:%d", maj, mnr)
	return "", fmt.Errorf("the devpts holding the terminal on stdin (device %s) is not mounted in this namespace", devno)
}

// readonly makes the zone path p a read-only bind mount of itself.
func (z *zoneRoot) readonly(p string) error {
	dest, err := z.resolve(p)
	if err != nil {
		return fmt.Errorf("read-only %s: %w", p, err)
	}
	if _, err := os.Lstat(dest); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unix.Mount(dest, dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("read-only %s: bind: %w", p, err)
	}
	if err := remountReadonly(dest); err != nil {
		return fmt.Errorf("read-only %s: %w", p, err)
	}
	return nil
}

// mask hides the zone path p: /dev/null over a file, an empty read-only
// tmpfs over a directory.
func (z *zoneRoot) mask(p string) error {
	dest, err := z.resolve(p)
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	fi, err := os.Stat(dest)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", dest, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
	} else {
		err = unix.Mount("/dev/null", dest, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", p, err)
	}
	return nil
}

// secureJoin resolves the path unsafe inside root, following symlinks as
// if root were /: ".." never climbs above root and absolute link targets
// restart at root. Components that do not exist yet are appended as they
// are (they will be created as directories, never as links).
func secureJoin(root, unsafe string) (string, error) {
	const maxLinks = 255
	links := 0
	var resolved []string // components below root, all existing non-links
	rest := strings.Split(filepath.Clean("/"+unsafe), "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		cur := filepath.Join(root, filepath.Join(append(append([]string{"/"}, resolved...), c)...))
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = append(resolved, c)
			continue
		}
		links++
		if links > maxLinks {
			return "", fmt.Errorf("resolve %s in %s: too many symlinks", unsafe, root)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("resolve %s in %s: %w", unsafe, root, err)
		}
		if filepath.IsAbs(target) {
			resolved = nil
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, filepath.Join(append([]string{"/"}, resolved...)...)), nil
}

// writableNetSysctls makes /proc/sys/net writable again under a read-only
// /proc/sys: the zone has its own network namespace, whose sysctls are its
// own (ip_forward, rp_filter, ...), while host-wide net tables are only
// registered in the host's namespace and do not show up here.
func (z *zoneRoot) writableNetSysctls() error {
	dest, err := z.resolve("/proc/sys/net")
	if err != nil {
		return err
	}
	if _, err := os.Stat(dest); err != nil {
		return nil
	}
	if err := unix.Mount(dest, dest, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /proc/sys/net: %w", err)
	}
	// The new bind mount inherits read-only from /proc/sys; remount it
	// without MS_RDONLY, keeping proc's nosuid, nodev and noexec.
	if err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("make /proc/sys/net writable: %w", err)
	}
	return nil
}
