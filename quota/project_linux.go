package quota

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// projectBackend gives the directory a project ID of its own (its inode
// number, unique on the filesystem while the directory lives) with the
// inherit flag, so every file and directory created below it belongs to the
// project, and limits the project with quotactl. The kernel refuses hard
// links and renames into the directory from another project (EXDEV), so a
// file outside the quota cannot be counted in and one inside cannot be
// moved out uncounted. It works on ext4 (mkfs -O project,quota, mounted
// with prjquota) and XFS (mounted with prjquota).
type projectBackend struct{}

func (projectBackend) Name() string { return Project }

const (
	fsIocFsGetXattr    = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIocFsSetXattr    = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	fsXflagProjInherit = 0x200

	qGetInfo  = 0x800005
	qGetQuota = 0x800007
	qSetQuota = 0x800008
	prjQuota  = 2
	qifLimits = 1 | 4 // QIF_BLIMITS | QIF_ILIMITS
	qifBlock  = 1024  // QIF_DQBLKSIZE: the unit of block limits
)

// fsxattr is struct fsxattr of <linux/fs.h>.
type fsxattr struct {
	Xflags     uint32
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	Pad        [8]byte
}

// ifDqblk is struct if_dqblk of <linux/quota.h>.
type ifDqblk struct {
	BHardlimit uint64
	BSoftlimit uint64
	CurSpace   uint64
	IHardlimit uint64
	ISoftlimit uint64
	CurInodes  uint64
	BTime      uint64
	ITime      uint64
	Valid      uint32
	_          uint32
}

// quotactlFd is quotactl_fd(2): quotactl on the filesystem of fd, without
// having to find its block device.
func quotactlFd(fd uintptr, cmd, id int, addr unsafe.Pointer) error {
	qcmd := uintptr(cmd<<8 | prjQuota)
	_, _, e := unix.Syscall6(unix.SYS_QUOTACTL_FD, fd, qcmd, uintptr(id), uintptr(addr), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// projectQuotaOn tells whether the filesystem of path accounts project
// quotas.
func projectQuotaOn(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var info [6]uint64 // struct if_dqinfo
	return quotactlFd(f.Fd(), qGetInfo, 0, unsafe.Pointer(&info[0])) == nil
}

func getXattr(f *os.File) (fsxattr, error) {
	var x fsxattr
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFsGetXattr, uintptr(unsafe.Pointer(&x)))
	if e != 0 {
		return x, e
	}
	return x, nil
}

func (b projectBackend) Make(dir string, l Limits) (err error) {
	if err := mkdirNew(dir); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = b.Remove(dir)
		}
	}()
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Ino == 0 || st.Ino > 1<<32-1 {
		return fmt.Errorf("inode number %d of %s does not fit a project ID: %w", st.Ino, dir, errdefs.ErrUnsupported)
	}
	x, err := getXattr(f)
	if err != nil {
		return fmt.Errorf("read project of %s: %w", dir, err)
	}
	x.Projid = uint32(st.Ino)
	x.Xflags |= fsXflagProjInherit
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFsSetXattr, uintptr(unsafe.Pointer(&x))); e != 0 {
		return fmt.Errorf("set project %d on %s: %w", x.Projid, dir, e)
	}
	return setProjectLimits(f, x.Projid, l)
}

func setProjectLimits(f *os.File, id uint32, l Limits) error {
	q := ifDqblk{
		BHardlimit: uint64((l.Bytes + qifBlock - 1) / qifBlock),
		IHardlimit: uint64(l.Inodes),
		Valid:      qifLimits,
	}
	if err := quotactlFd(f.Fd(), qSetQuota, int(id), unsafe.Pointer(&q)); err != nil {
		return fmt.Errorf("set quota of project %d: %w", id, err)
	}
	return nil
}

// project opens dir and reads its project ID.
func project(dir string) (*os.File, uint32, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, 0, err
	}
	x, err := getXattr(f)
	if err == nil && (x.Projid == 0 || x.Xflags&fsXflagProjInherit == 0) {
		err = fmt.Errorf("%s has no project quota: %w", dir, errdefs.ErrNotFound)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, x.Projid, nil
}

func (projectBackend) Attach(string) error { return nil }

func (b projectBackend) SetLimits(dir string, l Limits, _ bool) error {
	u, err := b.Usage(dir)
	if err != nil {
		return err
	}
	if l.Bytes > 0 && l.Bytes < u.Bytes {
		return fmt.Errorf("disk_bytes %d is below the %d bytes in use: %w", l.Bytes, u.Bytes, errdefs.ErrConflict)
	}
	if l.Inodes > 0 && l.Inodes < u.Inodes {
		return fmt.Errorf("disk_inodes %d is below the %d inodes in use: %w", l.Inodes, u.Inodes, errdefs.ErrConflict)
	}
	f, id, err := project(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return setProjectLimits(f, id, l)
}

func (projectBackend) Usage(dir string) (Usage, error) {
	f, id, err := project(dir)
	if err != nil {
		return Usage{}, err
	}
	defer f.Close()
	var q ifDqblk
	if err := quotactlFd(f.Fd(), qGetQuota, int(id), unsafe.Pointer(&q)); err != nil {
		return Usage{}, fmt.Errorf("read quota of project %d: %w", id, err)
	}
	return Usage{
		Backend:     Project,
		Bytes:       int64(q.CurSpace),
		Inodes:      int64(q.CurInodes),
		LimitBytes:  int64(q.BHardlimit) * qifBlock,
		LimitInodes: int64(q.IHardlimit),
	}, nil
}

func (projectBackend) Remove(dir string) error {
	f, id, err := project(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return os.RemoveAll(dir)
	}
	defer f.Close()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// An unused project with no limits is forgotten by the filesystem.
	return setProjectLimits(f, id, Limits{})
}
