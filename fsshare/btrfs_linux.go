package fsshare

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/quota"
)

// BackendBtrfs is the name a pool asks for the btrfs backend by.
const BackendBtrfs = "btrfs"

// btrfsBackend gives each zone a writable snapshot of its pool's read-only
// template subvolume: the snapshot shares every extent with the template
// until the zone writes, costs a few KiB of metadata to make, and is
// mounted as the zone's root with a bind mount (idmapped for an
// unprivileged zone, so the snapshot keeps the template's IDs on disk).
type btrfsBackend struct{}

func (btrfsBackend) Name() string { return BackendBtrfs }

func (btrfsBackend) WritableDir(layerDir string) string { return filepath.Join(layerDir, "rootfs") }

func (btrfsBackend) ShiftsOwners() bool { return false }

func (btrfsBackend) Create(layerDir, templateRoot string) error {
	return btrfsSnapshot(templateRoot, filepath.Join(layerDir, "rootfs"), false)
}

func (btrfsBackend) RootMount(layerDir, rootPath, _ string) specs.Mount {
	return specs.Mount{
		Destination: rootPath,
		Type:        "bind",
		Source:      filepath.Join(layerDir, "rootfs"),
		Options:     []string{"rbind"},
	}
}

func (btrfsBackend) Usage(layerDir string) (int64, error) {
	return btrfsExclusiveBytes(filepath.Join(layerDir, "rootfs"))
}

func (btrfsBackend) Delete(layerDir string) error {
	return removeSubvolumeOrDir(filepath.Join(layerDir, "rootfs"))
}

// OwnLayer has nothing to do: the snapshot keeps the template's IDs.
func (btrfsBackend) OwnLayer(string, int, uint32, uint32) error { return nil }

func (btrfsBackend) Serves(dir string) (string, error) {
	ok, err := onBtrfs(dir)
	if err != nil || ok {
		return "", err
	}
	return dir + " on a btrfs filesystem, and it is not (use overlay, or a directory on btrfs)", nil
}

// A snapshot is a read-only snapshot of the zone's subvolume, a restore a
// writable snapshot of that.
func (btrfsBackend) CopyLayer(src, dst string, readonly bool) error {
	return btrfsSnapshot(src, dst, readonly)
}

func (btrfsBackend) SnapshotFiles(snapDir string) string { return snapDir }

func (btrfsBackend) SnapshotSize(snapDir string) (int64, error) {
	return btrfsExclusiveBytes(snapDir)
}

func (btrfsBackend) RemoveSnapshot(snapDir string) error { return removeSnapshotDir(snapDir) }

// Restored has nothing to do: the subvolume is the whole layer.
func (btrfsBackend) Restored(string) {}

// CloneLayer snapshots the source's subvolume in place of the fresh one.
// Owners stay: the snapshot keeps the template's IDs.
func (btrfsBackend) CloneLayer(from, to string, _, _ int) error {
	if err := btrfsSubvolDelete(to); err != nil {
		return err
	}
	return btrfsSnapshot(from, to, false)
}

// ExportsLayer is false: a snapshot does not tell the zone's own files
// from the template's.
func (btrfsBackend) ExportsLayer() bool { return false }

// ReadRoot reads the snapshot itself, the zone's whole root, even while
// the zone runs.
func (b btrfsBackend) ReadRoot(layerDir, _ string, read func(string) error) error {
	return read(b.WritableDir(layerDir))
}

func (btrfsBackend) ReadRootLive() bool { return true }

// PrepareImport applies the archive's whiteouts as deletions from the
// snapshot of the template.
func (btrfsBackend) PrepareImport(x *extractor) {
	x.whiteouts, x.layer = true, map[string]bool{}
}

// LayerQuota: the zone's own subvolume carries a qgroup, capped as the
// snapshot is made.
func (btrfsBackend) LayerQuota() string { return quota.BtrfsQgroup }

func (btrfsBackend) LimitLayer(writableDir string, l quota.Limits) error {
	return quota.LimitSubvolume(writableDir, quota.Limits{Bytes: l.Bytes})
}

// CopiesTemplates: a zone's snapshot must be of a subvolume on the
// pool's own filesystem.
func (btrfsBackend) CopiesTemplates() bool { return true }

// CopyTemplate makes dst a read-only subvolume holding a reflink copy of
// src (which shares the extents when the template is on the same btrfs),
// staged beside dst and renamed into place once complete.
func (btrfsBackend) CopyTemplate(src, dst string) error {
	tmp := filepath.Join(filepath.Dir(dst), stagingPrefix+filepath.Base(dst)+"-"+randomSuffix())
	if err := btrfsSubvolCreate(tmp); err != nil {
		return err
	}
	if err := copyTree(src, tmp); err != nil {
		_ = btrfsSubvolDelete(tmp)
		return err
	}
	if err := unix.Rename(tmp, dst); err != nil {
		_ = btrfsSubvolDelete(tmp)
		return err
	}
	// Read-only, so no zone's write can ever reach the shared template.
	return btrfsSetReadonly(dst, true)
}

func (btrfsBackend) TemplateCopySize(dst string) (int64, error) { return btrfsExclusiveBytes(dst) }

// btrfsMagic is BTRFS_SUPER_MAGIC, statfs's f_type of a btrfs filesystem.
const btrfsMagic = 0x9123683e

func onBtrfs(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint32(st.Type) == btrfsMagic, nil
}

// The btrfs ioctls zoned needs (linux/btrfs.h). Made by hand: x/sys/unix
// has none of them, and a subvolume snapshot by ioctl takes a fraction of
// the time of running btrfs-progs for each zone.
const (
	btrfsIocSnapCreateV2  = 0x50009417 // _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
	btrfsIocSubvolCreate  = 0x5000940e // _IOW(0x94, 14, struct btrfs_ioctl_vol_args)
	btrfsIocSnapDestroy   = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	btrfsIocSubvolGetflag = 0x80089419 // _IOR(0x94, 25, __u64)
	btrfsIocSubvolSetflag = 0x4008941a // _IOW(0x94, 26, __u64)
	btrfsSubvolRdonly     = 1 << 1
	btrfsFirstFreeObjID   = 256 // inode number of every subvolume's root
)

// btrfsVolArgs is struct btrfs_ioctl_vol_args.
type btrfsVolArgs struct {
	fd   int64
	name [4088]byte
}

// btrfsVolArgsV2 is struct btrfs_ioctl_vol_args_v2.
type btrfsVolArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [4040]byte
}

func ioctlPtr(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if errno != 0 {
		return errno
	}
	return nil
}

// openParent opens p's parent directory and returns it with p's base name,
// checked to fit the ioctl's name field.
func openParent(p string, max int) (int, string, error) {
	base := filepath.Base(p)
	if len(base) >= max {
		return -1, "", fmt.Errorf("name %q is too long: %w", base, errdefs.ErrInvalid)
	}
	fd, err := unix.Open(filepath.Dir(p), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", fmt.Errorf("open %s: %w", filepath.Dir(p), err)
	}
	return fd, base, nil
}

// btrfsSubvolCreate makes an empty subvolume at p.
func btrfsSubvolCreate(p string) error {
	if err := volArgsIoctl(p, btrfsIocSubvolCreate); err != nil {
		return fmt.Errorf("create btrfs subvolume %s: %w", p, btrfsError(err))
	}
	return nil
}

// volArgsIoctl runs an ioctl taking struct btrfs_ioctl_vol_args that names
// p in its parent directory.
func volArgsIoctl(p string, req uintptr) error {
	pfd, base, err := openParent(p, 4088)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	var args btrfsVolArgs
	copy(args.name[:], base)
	return ioctlPtr(pfd, req, unsafe.Pointer(&args))
}

// btrfsSnapshot snapshots subvolume src at dst, read-only if asked.
func btrfsSnapshot(src, dst string, readonly bool) error {
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", src, err)
	}
	defer unix.Close(sfd)
	pfd, base, err := openParent(dst, 4040)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	args := btrfsVolArgsV2{fd: int64(sfd)}
	if readonly {
		args.flags = btrfsSubvolRdonly
	}
	copy(args.name[:], base)
	if err := ioctlPtr(pfd, btrfsIocSnapCreateV2, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("snapshot btrfs subvolume %s at %s: %w", src, dst, btrfsError(err))
	}
	return nil
}

// btrfsSubvolDelete deletes the subvolume at p, read-only or not, and
// its qgroup where qgroups are on (a zone's disk quota turns them on): the
// kernel would otherwise keep it as a stale one.
func btrfsSubvolDelete(p string) error {
	q, err := quota.SubvolumeQgroup(p)
	if err != nil {
		return fmt.Errorf("delete btrfs subvolume %s: %w", p, err)
	}
	if err := volArgsIoctl(p, btrfsIocSnapDestroy); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("delete btrfs subvolume %s: it holds other subvolumes (made inside the zone); delete those first: %w", p, errdefs.ErrConflict)
		}
		return fmt.Errorf("delete btrfs subvolume %s: %w", p, err)
	}
	if q == "" {
		return nil
	}
	if err := quota.DropQgroup(filepath.Dir(p), q); err != nil {
		return fmt.Errorf("delete btrfs subvolume %s: %w", p, err)
	}
	return nil
}

// btrfsSetReadonly sets or clears a subvolume's read-only flag.
func btrfsSetReadonly(p string, ro bool) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var flags uint64
	if err := ioctlPtr(fd, btrfsIocSubvolGetflag, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("flags of btrfs subvolume %s: %w", p, err)
	}
	if ro {
		flags |= btrfsSubvolRdonly
	} else {
		flags &^= btrfsSubvolRdonly
	}
	if err := ioctlPtr(fd, btrfsIocSubvolSetflag, unsafe.Pointer(&flags)); err != nil {
		return fmt.Errorf("set flags of btrfs subvolume %s: %w", p, err)
	}
	return nil
}

// isSubvolume reports whether p is the root of a btrfs subvolume.
func isSubvolume(p string) bool {
	var st unix.Stat_t
	if unix.Lstat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Ino != btrfsFirstFreeObjID {
		return false
	}
	ok, _ := onBtrfs(p)
	return ok
}

// removeSubvolumeOrDir removes p, whether it is a subvolume or a plain
// directory; a missing p is not an error.
func removeSubvolumeOrDir(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if isSubvolume(p) {
		return btrfsSubvolDelete(p)
	}
	return removeTree(p)
}

func btrfsError(err error) error {
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: not on btrfs: %w", err, errdefs.ErrUnsupported)
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	return err
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
