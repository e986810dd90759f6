package quota

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
)

// Fill says how close a directory is to its quota, as a Probe sees it.
type Fill int

const (
	// Clear is well below the quota: a zone that was at it has left it.
	Clear Fill = iota
	// Near is within twice the margin of the quota: neither a hit nor
	// a way out of one, so usage hovering at the margin is not counted
	// as hit after hit.
	Near
	// Full is at the quota (less than the margin free, or no inode
	// left): the kernel refuses or just refused a write.
	Full
)

// maxMargin is how much room under a byte quota still counts as at the
// quota. A refused write leaves up to its own size free: dd with bs=1M
// stops up to 1 MiB short of an ext4 image's end, and btrfs stops a
// qgroup 16 KiB short of its limit; applications write in chunks of at
// most a few hundred KiB to 1 MiB. Small quotas get 1/32 of the limit,
// so a 16 MiB quota is not "full" at half.
const maxMargin = 2 << 20

func margin(limit int64) int64 { return min(maxMargin, limit/32) }

// fillOf places free bytes under a limit of limit bytes.
func fillOf(free, limit int64) Fill {
	m := margin(limit)
	switch {
	case free < m:
		return Full
	case free < 2*m:
		return Near
	}
	return Clear
}

// A Probe tells, cheaply enough to ask every few seconds for hundreds of
// directories, how close one directory is to its quota. The kernel tells
// no one when an image fills up or a qgroup refuses a write, so the
// quota's hits are found by sampling; project quotas have kernel
// warnings as well (see WatchWarnings), keyed by Key.
type Probe struct {
	// Key is what the kernel's quota warnings for the directory carry;
	// the zero key for backends that send none.
	Key   WarningKey
	fill  func() (Fill, error)
	close func()
}

// Fill samples the directory's use against its quota.
func (p *Probe) Fill() (Fill, error) { return p.fill() }

// Close frees what the probe keeps open.
func (p *Probe) Close() {
	if p.close != nil {
		p.close()
	}
}

// NewProbe returns a probe of dir, which b made. It does the expensive
// part (finding the qgroup, the project) once.
func NewProbe(b Backend, dir string) (*Probe, error) {
	switch b.Name() {
	case Image:
		return &Probe{fill: func() (Fill, error) { return imageFill(dir) }}, nil
	case BtrfsQgroup:
		return btrfsProbe(dir)
	case Project:
		return projectProbe(dir)
	}
	return nil, fmt.Errorf("quota probe for backend %q: %w", b.Name(), errdefs.ErrUnsupported)
}

// imageFill reads the free blocks and inodes of the image mounted on dir.
// f_bavail leaves out ext4's reserved pool, which a zone cannot write to.
func imageFill(dir string) (Fill, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Clear, err
	}
	if uint32(st.Type) == unix.EXT4_SUPER_MAGIC {
		// The host's own ext4 says nothing of the zone: make sure it is
		// the image.
		if mnt, err := isMountpoint(dir); err != nil || !mnt {
			st.Type = 0
		}
	}
	if uint32(st.Type) != unix.EXT4_SUPER_MAGIC {
		return Clear, fmt.Errorf("%s has no disk image mounted: %w", dir, errdefs.ErrUnavailable)
	}
	if st.Files > 0 && st.Ffree == 0 {
		return Full, nil
	}
	return fillOf(int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize), nil
}

// btrfsProbe reads the qgroup's counters from sysfs
// (/sys/fs/btrfs/FSID/qgroups/0_ID, Linux 5.9+), which need no
// transaction commit: "btrfs qgroup show" wants one to be current and costs
// a process. The counters lag a commit behind, but a write the qgroup
// refuses commits first, so at a hit they are current.
func btrfsProbe(dir string) (*Probe, error) {
	q, snap, err := qgroupOf(dir)
	if err != nil {
		return nil, err
	}
	fsid, err := btrfsFSID(dir)
	if err != nil {
		return nil, err
	}
	qdir := filepath.Join("/sys/fs/btrfs", fsid, "qgroups", strings.ReplaceAll(q, "/", "_"))
	used, limit := filepath.Join(qdir, "referenced"), filepath.Join(qdir, "max_referenced")
	if snap {
		used, limit = filepath.Join(qdir, "exclusive"), filepath.Join(qdir, "max_exclusive")
	}
	read := func(path string) (int64, error) {
		b, err := kfile.Read(path)
		if err != nil {
			return 0, fmt.Errorf("qgroup %s of %s: %w", q, dir, err)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("qgroup %s of %s: %w", q, dir, err)
		}
		// No limit reads as 0 or as all ones.
		return int64(min(n, 1<<62)), nil
	}
	fill := func() (Fill, error) {
		max, err := read(limit)
		if err != nil || max <= 0 || max == 1<<62 {
			return Clear, err
		}
		n, err := read(used)
		if err != nil {
			return Clear, err
		}
		return fillOf(max-n, max), nil
	}
	return &Probe{fill: fill, close: func() { kfile.Forget(qdir) }}, nil
}

// btrfsFSID returns the UUID of the btrfs filesystem of dir, which names
// its directory in /sys/fs/btrfs (BTRFS_IOC_FS_INFO).
func btrfsFSID(dir string) (string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	// struct btrfs_ioctl_fs_info_args: max_id, num_devices, fsid[16], ...
	// 1024 bytes in all.
	var args [1024]byte
	const btrfsIocFsInfo = 0x8400941f // _IOR(0x94, 31, 1024 bytes)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), btrfsIocFsInfo, uintptr(unsafe.Pointer(&args[0]))); e != 0 {
		return "", fmt.Errorf("btrfs filesystem info of %s: %w", dir, e)
	}
	u := args[16:32]
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// projectProbe reads the project's use with quotactl, and keys the
// kernel's warnings for the project.
func projectProbe(dir string) (*Probe, error) {
	f, id, err := project(dir)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	err = unix.Fstat(int(f.Fd()), &st)
	f.Close()
	if err != nil {
		return nil, err
	}
	fill := func() (Fill, error) {
		u, err := projectBackend{}.Usage(dir)
		if err != nil {
			return Clear, err
		}
		if u.LimitInodes > 0 && u.Inodes >= u.LimitInodes {
			return Full, nil
		}
		if u.LimitBytes <= 0 {
			return Clear, nil
		}
		return fillOf(u.LimitBytes-u.Bytes, u.LimitBytes), nil
	}
	key := WarningKey{Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Type: prjQuota, ID: uint64(id)}
	return &Probe{Key: key, fill: fill}, nil
}
