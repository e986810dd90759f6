package quota

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// NewProbe returns a probe of the directory r reads. It does the
// expensive part (finding the project) once; a btrfs qgroup's counters
// are the ones r found.
func NewProbe(r *UsageReader) (*Probe, error) {
	dir := r.dir
	switch r.b.Name() {
	case Image:
		return &Probe{fill: func() (Fill, error) { return imageFill(dir) }}, nil
	case BtrfsQgroup:
		c, err := r.BtrfsCounters()
		if err != nil {
			return nil, err
		}
		return btrfsProbe(c, dir), nil
	case Project:
		return projectProbe(dir)
	}
	return nil, fmt.Errorf("quota probe for backend %q: %w", r.b.Name(), errdefs.ErrUnsupported)
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

// BtrfsCounters names the sysfs files (/sys/fs/btrfs/FSID/qgroups/0_ID,
// Linux 5.9+) that hold what the qgroup capping dir counts against its
// limit: reading them needs no process and no transaction commit, as
// "btrfs qgroup show" does. Used is the sum of the files in Used: the
// committed bytes, which lag a commit behind, and the space reserved for
// writes not yet committed, which the qgroup counts against its limit
// too; Limit holds the limit, 0 or all ones when there is none.
type BtrfsCounters struct {
	Qgroup string   // 0/ID
	Dir    string   // the qgroup's sysfs directory
	Used   []string // files to sum
	Limit  string
}

// NewBtrfsCounters finds the counters of the qgroup capping the
// subvolume dir: exclusive bytes for a snapshot, whose shared extents are
// its template's, referenced bytes for a plain subvolume.
func NewBtrfsCounters(dir string) (*BtrfsCounters, error) {
	q, snap, err := qgroupOf(dir)
	if err != nil {
		return nil, err
	}
	fsid, err := btrfsFSID(dir)
	if err != nil {
		return nil, err
	}
	c := &BtrfsCounters{Qgroup: q, Dir: filepath.Join("/sys/fs/btrfs", fsid, "qgroups", strings.ReplaceAll(q, "/", "_"))}
	used, limit := "referenced", "max_referenced"
	if snap {
		used, limit = "exclusive", "max_exclusive"
	}
	c.Used, c.Limit = []string{filepath.Join(c.Dir, used)}, filepath.Join(c.Dir, limit)
	if _, err := os.Stat(c.Limit); err != nil {
		return nil, fmt.Errorf("qgroup %s of %s: no counters in sysfs (Linux 5.9+): %w", q, dir, err)
	}
	// Reservations (Linux 5.9+ as well); older layouts simply lack them.
	for _, rsv := range []string{"rsv_data", "rsv_meta_pertrans", "rsv_meta_prealloc"} {
		if _, err := os.Stat(filepath.Join(c.Dir, rsv)); err == nil {
			c.Used = append(c.Used, filepath.Join(c.Dir, rsv))
		}
	}
	return c, nil
}

// ReadBtrfsCounters reads used and limit bytes from the files of
// BtrfsCounters; a limit of 0 means none.
func ReadBtrfsCounters(usedFiles []string, limitFile string) (used, limit int64, err error) {
	read := func(path string) (int64, error) {
		b, err := kfile.Read(path)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		return int64(min(n, 1<<62)), nil
	}
	if limit, err = read(limitFile); err != nil {
		return 0, 0, err
	}
	if limit == 1<<62 { // all ones: no limit
		limit = 0
	}
	for _, f := range usedFiles {
		n, err := read(f)
		if err != nil {
			return 0, 0, err
		}
		used += n
	}
	return used, limit, nil
}

// btrfsProbe samples the qgroup's committed bytes (see BtrfsCounters). A
// write the qgroup refuses commits first, so at a hit they are current;
// reservations would count writes still on their way as a hit.
func btrfsProbe(c *BtrfsCounters, dir string) *Probe {
	fill := func() (Fill, error) {
		n, max, err := ReadBtrfsCounters(c.Used[:1], c.Limit)
		if err != nil || max <= 0 {
			if err != nil {
				err = fmt.Errorf("qgroup %s of %s: %w", c.Qgroup, dir, err)
			}
			return Clear, err
		}
		return fillOf(max-n, max), nil
	}
	return &Probe{fill: fill, close: func() { kfile.Forget(c.Dir) }}
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

// A UsageReader reads a directory's Usage cheaply enough to be asked for
// every zone in one stats request, and finds a btrfs qgroup's counters
// once for everything that reads them (stats, the Probe, df's answer). Images and project quotas answer Usage
// with a statfs or a quotactl already. A btrfs qgroup's Usage runs two
// btrfs-progs processes and commits the filesystem; the reader reads the
// qgroup's sysfs counters instead (committed plus reserved bytes, see
// BtrfsCounters), found on first use, and falls back to Usage where they
// cannot be read (kernels before 5.9).
type UsageReader struct {
	b   Backend
	dir string

	mu sync.Mutex
	c  *BtrfsCounters
}

// NewUsageReader returns a reader of dir, which b made.
func NewUsageReader(b Backend, dir string) *UsageReader { return &UsageReader{b: b, dir: dir} }

// Read returns the directory's use and limits.
func (r *UsageReader) Read() (Usage, error) {
	if r.b.Name() != BtrfsQgroup {
		return r.b.Usage(r.dir)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.countersLocked(); err != nil {
		return r.b.Usage(r.dir)
	}
	used, limit, err := ReadBtrfsCounters(r.c.Used, r.c.Limit)
	if err != nil {
		// The subvolume was made anew (a new qgroup): find it again.
		r.closeLocked()
		return r.b.Usage(r.dir)
	}
	return Usage{Backend: BtrfsQgroup, Bytes: used, LimitBytes: limit}, nil
}

// BtrfsCounters returns the counters of the btrfs qgroup capping the
// directory, found on first use.
func (r *UsageReader) BtrfsCounters() (*BtrfsCounters, error) {
	if r.b.Name() != BtrfsQgroup {
		return nil, fmt.Errorf("%s has a %s quota, not a btrfs qgroup: %w", r.dir, r.b.Name(), errdefs.ErrUnsupported)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.countersLocked()
}

func (r *UsageReader) countersLocked() (*BtrfsCounters, error) {
	if r.c == nil {
		c, err := NewBtrfsCounters(r.dir)
		if err != nil {
			return nil, err
		}
		r.c = c
	}
	return r.c, nil
}

// Close frees the descriptors the reader keeps open.
func (r *UsageReader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
}

func (r *UsageReader) closeLocked() {
	if r.c != nil {
		kfile.Forget(r.c.Dir)
		r.c = nil
	}
}
