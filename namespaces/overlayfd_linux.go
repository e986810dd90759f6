package namespaces

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// errNoLayerFds means the kernel cannot take overlay layers as
// descriptors (fsconfig FSCONFIG_SET_FD for lowerdir+, upperdir and
// workdir, Linux 6.13); callers fall back to layers named by path.
var errNoLayerFds = errors.New("overlay layers as descriptors (kernel 6.13+) unsupported")

// layersByPathOnly makes overlayFromFds fail as on kernels before 6.13;
// tests of the fallback set it.
var layersByPathOnly bool

// overlayFromFds builds the overlay root m as a detached mount whose
// layers are handed to the kernel as descriptors of detached clones of
// the layer directories, and returns the mount's descriptor
// (close-on-exec). With usernsFd >= 0 the lower layers are idmapped
// through that user namespace.
//
// Why descriptors: overlayfs shows its layers in the zone's
// /proc/self/mountinfo. Given by path, they show as the host paths of the
// template and the zone's layer (the data dir, the zone and template
// names: the host's layout). Given by descriptor, the kernel records the
// path of each layer as seen from its own mount, and a detached clone of
// a directory is a mount of its own with that directory at its root: the
// zone sees "lowerdir+=/,upperdir=/upper,workdir=/work".
func overlayFromFds(m specs.Mount, usernsFd int) (int, error) {
	if layersByPathOnly {
		return -1, errNoLayerFds
	}
	flags, data := parseMountOptions(m.Options)
	var lowers []string
	var upper, work string
	var rest []string
	for _, opt := range strings.Split(data, ",") {
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "":
		case "lowerdir":
			lowers = strings.Split(val, ":")
		case "upperdir":
			upper = val
		case "workdir":
			work = val
		default:
			rest = append(rest, opt)
		}
	}
	if len(lowers) == 0 {
		return -1, fmt.Errorf("overlay root %s has no lowerdir", m.Destination)
	}
	// upperdir and workdir must be on one mount: one clone holds both.
	if (upper == "") != (work == "") || (upper != "" && filepath.Dir(upper) != filepath.Dir(work)) {
		return -1, fmt.Errorf("overlay root %s: upperdir %q and workdir %q are not siblings: %w", m.Destination, upper, work, errNoLayerFds)
	}
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay (new mount API, kernel 5.2+): %w: %w", unsupportedIf(err), errNoLayerFds)
	}
	defer unix.Close(fsfd)
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	// dirIn opens name below the detached tree as a real (not O_PATH)
	// directory descriptor, which is what fsconfig takes.
	dirIn := func(tree int, name string) (int, error) {
		fd, err := unix.Openat(tree, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			fds = append(fds, fd)
		}
		return fd, err
	}
	for i, l := range lowers {
		var tree int
		if usernsFd >= 0 {
			tree, err = idmappedTree(l, usernsFd)
		} else {
			tree, err = unix.OpenTree(unix.AT_FDCWD, l, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
			if err != nil {
				err = fmt.Errorf("clone mount of %s (open_tree, kernel 5.2+): %w", l, unsupportedIf(err))
			}
		}
		if err != nil {
			return -1, err
		}
		fds = append(fds, tree)
		fd, err := dirIn(tree, ".")
		if err != nil {
			return -1, fmt.Errorf("open lower layer %s: %w", l, err)
		}
		if err := unix.FsconfigSetFd(fsfd, "lowerdir+", fd); err != nil {
			// Which error says "not by descriptor" depends on the
			// kernel: before 6.5 overlayfs parses options the legacy
			// way and fsconfig refuses any descriptor (EOPNOTSUPP);
			// 6.5 to 6.12 know no "lowerdir+" or no descriptor for it
			// (EINVAL, EBADF).
			if i == 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBADF)) {
				return -1, fmt.Errorf("overlay lowerdir+ by descriptor: %w: %w", fsconfigError(fsfd, err), errNoLayerFds)
			}
			return -1, fmt.Errorf("overlay lower layer %s: %w", l, fsconfigError(fsfd, err))
		}
	}
	if upper != "" {
		tree, err := unix.OpenTree(unix.AT_FDCWD, filepath.Dir(upper), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("clone mount of %s: %w", filepath.Dir(upper), err)
		}
		fds = append(fds, tree)
		for key, p := range map[string]string{"upperdir": upper, "workdir": work} {
			fd, err := dirIn(tree, filepath.Base(p))
			if err != nil {
				return -1, fmt.Errorf("open overlay %s %s: %w", key, p, err)
			}
			if err := unix.FsconfigSetFd(fsfd, key, fd); err != nil {
				return -1, fmt.Errorf("overlay %s %s: %w", key, p, fsconfigError(fsfd, err))
			}
		}
	}
	if err := setFsOptions(fsfd, rest); err != nil {
		return -1, err
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create overlay root: %w", fsconfigError(fsfd, err))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, mountAttrs(flags))
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay root: %w", err)
	}
	return mfd, nil
}

// setFsOptions passes mount options ("key=value" or a bare flag) to the
// filesystem context fsfd.
func setFsOptions(fsfd int, opts []string) error {
	for _, opt := range opts {
		if opt == "" {
			continue
		}
		key, val, hasVal := strings.Cut(opt, "=")
		var err error
		if hasVal {
			err = unix.FsconfigSetString(fsfd, key, val)
		} else {
			err = unix.FsconfigSetFlag(fsfd, key)
		}
		if err != nil {
			return fmt.Errorf("mount option %s: %w", key, fsconfigError(fsfd, err))
		}
	}
	return nil
}

// mountAttrs turns mount(2) flags into fsmount(2) attributes.
func mountAttrs(flags uintptr) int {
	var attr int
	for flag, a := range map[uintptr]int{
		unix.MS_RDONLY: unix.MOUNT_ATTR_RDONLY, unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID,
		unix.MS_NODEV: unix.MOUNT_ATTR_NODEV, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
	} {
		if flags&flag != 0 {
			attr |= a
		}
	}
	return attr
}

// chdirForLayers is the fallback's way to keep the data dir out of the
// zone's mountinfo: overlay shows layers named by path exactly as given,
// so it makes the calling thread's working directory the parent of the
// upper dir (the zone's layer directory) and returns the overlay options
// data with every layer path relative to it ("upperdir=upper",
// "lowerdir=../../templates/NAME/rootfs"). The zone still sees the
// layout below the data dir, not where the data dir is. Data without an
// upperdir is returned as it is.
func chdirForLayers(data string) (string, error) {
	opts := strings.Split(data, ",")
	var base string
	for _, opt := range opts {
		if v, ok := strings.CutPrefix(opt, "upperdir="); ok && filepath.IsAbs(v) {
			base = filepath.Dir(v)
		}
	}
	if base == "" {
		return data, nil
	}
	rel := func(p string) (string, error) {
		if !filepath.IsAbs(p) {
			return p, nil
		}
		return filepath.Rel(base, p)
	}
	for i, opt := range opts {
		key, val, _ := strings.Cut(opt, "=")
		switch key {
		case "lowerdir":
			layers := strings.Split(val, ":")
			for j, l := range layers {
				r, err := rel(l)
				if err != nil {
					return "", err
				}
				layers[j] = r
			}
			opts[i] = key + "=" + strings.Join(layers, ":")
		case "upperdir", "workdir":
			r, err := rel(val)
			if err != nil {
				return "", err
			}
			opts[i] = key + "=" + r
		}
	}
	if err := unix.Chdir(base); err != nil {
		return "", fmt.Errorf("chdir %s for the overlay's layers: %w", base, err)
	}
	return strings.Join(opts, ","), nil
}
