package quota

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// A Backend makes directories under a disk quota and changes the quota.
type Backend interface {
	// Name is one of BtrfsQgroup, Project, Image.
	Name() string
	// Make creates dir, which must not exist (an fs.ErrExist error says it
	// does), under the limits, so everything written below it is counted.
	Make(dir string, l Limits) error
	// Attach makes dir's quota work again after a host reboot (the image
	// is mounted again); it does nothing where it works already.
	Attach(dir string) error
	// SetLimits changes the limits of a directory Make made. A limit below
	// what is used now is refused with ErrConflict, naming the use. live
	// says a running zone uses dir now, so the change must be made online.
	SetLimits(dir string, l Limits, live bool) error
	// Usage tells what dir takes and its limits.
	Usage(dir string) (Usage, error)
	// Remove deletes dir with everything below it and frees what the quota
	// held (loop device, mount, image file, qgroup). A dir that is gone is
	// not an error.
	Remove(dir string) error
}

// Detect names the backend that would enforce a quota on a directory made
// in parent (the directory itself need not exist): btrfs gets qgroups, ext4
// and XFS with project quotas on get project quotas, anything else images.
func Detect(parent string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return "", fmt.Errorf("detect quota backend for %s: %w", parent, err)
	}
	switch uint32(st.Type) {
	case unix.BTRFS_SUPER_MAGIC:
		return BtrfsQgroup, nil
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC:
		if projectQuotaOn(parent) {
			return Project, nil
		}
	}
	return Image, nil
}

// For returns the backend Detect names for parent. imagesDir is where the
// image backend keeps image files; it must be outside parent's children,
// since the image is mounted over the child.
func For(parent, imagesDir string) (Backend, error) {
	name, err := Detect(parent)
	if err != nil {
		return nil, err
	}
	return ByName(name, imagesDir)
}

// ByName returns the backend called name.
func ByName(name, imagesDir string) (Backend, error) {
	switch name {
	case BtrfsQgroup:
		return btrfsBackend{}, nil
	case Project:
		return projectBackend{}, nil
	case Image:
		return imageBackend{dir: imagesDir}, nil
	}
	return nil, fmt.Errorf("quota backend %q: %w", name, errdefs.ErrInvalid)
}

// Capacity is the size of the filesystem parent is on: no quota can usefully
// be larger.
func Capacity(parent string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(parent, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * st.Bsize, nil
}

// mkdirNew makes dir with mode 0700 and reports an existing one as
// fs.ErrExist.
func mkdirNew(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: %w", dir, fs.ErrExist)
		}
		return err
	}
	return nil
}

// isMountpoint tells whether dir is the root of a mount.
func isMountpoint(dir string) (bool, error) {
	var st, pst unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, err
	}
	if err := unix.Lstat(filepath.Dir(dir), &pst); err != nil {
		return false, err
	}
	if st.Dev != pst.Dev {
		return true, nil
	}
	// A bind mount of the same filesystem keeps the device: ask the
	// kernel through the mount ID.
	var sx, psx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &sx); err != nil {
		return false, err
	}
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(dir), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &psx); err != nil {
		return false, err
	}
	return sx.Mnt_id != psx.Mnt_id, nil
}
