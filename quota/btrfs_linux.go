package quota

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zoned-project/zoned/errdefs"
)

// btrfsBackend makes the directory a subvolume and limits its qgroup
// (0/ID, ID being the subvolume's) with btrfs-progs. A plain subvolume is
// limited on referenced bytes, everything it holds; a snapshot (a zone over
// a template snapshot) on exclusive bytes, what it does not share with its
// origin. Hard links and renames cannot cross a subvolume (EXDEV), so
// nothing written in the zone lands outside its qgroup; nested subvolumes
// would get qgroups of their own, so zones must not be able to create
// them (the zone sees its layer through overlayfs, which passes no btrfs
// ioctl; see namespaces' seccomp policy for zones without overlay).
type btrfsBackend struct{}

func (btrfsBackend) Name() string { return BtrfsQgroup }

func btrfs(args ...string) (string, error) { return btrfsWithin(0, args...) }

// btrfsWithin runs btrfs-progs, killed after timeout (0: none).
func btrfsWithin(timeout time.Duration, args ...string) (string, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out, err := exec.CommandContext(ctx, "btrfs", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("btrfs %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (b btrfsBackend) Make(dir string, l Limits) (err error) {
	if l.Inodes > 0 {
		return fmt.Errorf("disk_inodes: btrfs qgroups limit bytes only: %w", errdefs.ErrUnsupported)
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s exists: %w", dir, fs.ErrExist)
	}
	if _, err := btrfs("subvolume", "create", dir); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = b.Remove(dir)
		}
	}()
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	if err := enableQuota(dir); err != nil {
		return err
	}
	return b.SetLimits(dir, l, false)
}

// LimitSubvolume caps an existing subvolume, such as a zone's snapshot of
// its template in a btrfs pool, turning qgroups on for its filesystem
// first if they are off. A snapshot is capped on its exclusive bytes, so
// the extents it shares with the template are not counted.
func LimitSubvolume(dir string, l Limits) error {
	if err := enableQuota(dir); err != nil {
		return err
	}
	return btrfsBackend{}.SetLimits(dir, l, false)
}

// SubvolumeQgroup returns the qgroup of subvolume dir while qgroups are
// on for its filesystem, "" while they are off. Whoever deletes a
// subvolume asks first, and drops the qgroup after (DropQgroup).
func SubvolumeQgroup(dir string) (string, error) {
	if _, err := btrfs("qgroup", "show", dir); err != nil {
		return "", nil
	}
	q, _, err := qgroupOf(dir)
	return q, err
}

// enableQuota turns qgroups on for the filesystem of dir if they are off.
func enableQuota(dir string) error {
	if _, err := btrfs("qgroup", "show", dir); err == nil {
		return nil
	}
	if _, err := btrfs("quota", "enable", dir); err != nil {
		return err
	}
	// Existing data is counted by a rescan; wait for it so usage and
	// limits are right from the start.
	_, err := btrfs("quota", "rescan", "-w", dir)
	return err
}

func (btrfsBackend) Attach(string) error { return nil }

func (b btrfsBackend) SetLimits(dir string, l Limits, _ bool) error {
	if l.Inodes > 0 {
		return fmt.Errorf("disk_inodes: btrfs qgroups limit bytes only: %w", errdefs.ErrUnsupported)
	}
	q, snap, err := qgroupOf(dir)
	if err != nil {
		return err
	}
	u, err := b.Usage(dir)
	if err != nil {
		return err
	}
	if l.Bytes > 0 && l.Bytes < u.Bytes {
		return fmt.Errorf("disk_bytes %d is below the %d bytes in use: %w", l.Bytes, u.Bytes, errdefs.ErrConflict)
	}
	size := "none"
	if l.Bytes > 0 {
		size = strconv.FormatInt(l.Bytes, 10)
	}
	args := []string{"qgroup", "limit"}
	if snap {
		args = append(args, "-e")
	}
	_, err = btrfs(append(args, size, q, dir)...)
	return err
}

// qgroupOf returns the qgroup of the subvolume dir and whether it is a
// snapshot.
func qgroupOf(dir string) (string, bool, error) {
	out, err := btrfs("subvolume", "show", dir)
	if err != nil {
		return "", false, fmt.Errorf("%s is not a btrfs subvolume: %w", dir, err)
	}
	id, parent := "", "-"
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Subvolume ID":
			id = strings.TrimSpace(v)
		case "Parent UUID":
			parent = strings.TrimSpace(v)
		}
	}
	if id == "" {
		return "", false, fmt.Errorf("no subvolume ID for %s in btrfs subvolume show", dir)
	}
	return "0/" + id, parent != "-" && parent != "", nil
}

func (btrfsBackend) Usage(dir string) (Usage, error) {
	q, snap, err := qgroupOf(dir)
	if err != nil {
		return Usage{}, err
	}
	// Qgroup counters move at transaction commit.
	if _, err := btrfs("filesystem", "sync", dir); err != nil {
		return Usage{}, err
	}
	out, err := btrfs("qgroup", "show", "-re", "--raw", "-f", dir)
	if err != nil {
		return Usage{}, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// Qgroupid Referenced Exclusive MaxReferenced MaxExclusive [Path]
		if len(f) < 5 || f[0] != q {
			continue
		}
		num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
		u := Usage{Backend: BtrfsQgroup, Bytes: num(f[1]), LimitBytes: num(f[3])}
		if snap {
			u.Bytes, u.LimitBytes = num(f[2]), num(f[4])
		}
		return u, nil
	}
	return Usage{}, fmt.Errorf("qgroup %s of %s not in btrfs qgroup show", q, dir)
}

func (btrfsBackend) Remove(dir string) error {
	q, _, err := qgroupOf(dir)
	if err != nil {
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
		// Not a subvolume (a half made one): plain removal.
		return os.RemoveAll(dir)
	}
	if _, err := btrfs("subvolume", "delete", "--commit-after", dir); err != nil {
		return err
	}
	return DropQgroup(filepath.Dir(dir), q)
}

// DropQgroup removes qgroup q of a subvolume deleted from the filesystem
// of parent. The qgroup outlives its subvolume until the cleaner has
// dropped the subvolume's tree; wait for that, then remove it. Kernels
// that remove it themselves leave nothing to destroy.
func DropQgroup(parent, q string) error {
	// Wait for this subvolume only: without an ID, subvolume sync waits
	// for every deleted one, and one still in use (a process's cwd or
	// open file, in another zone or on the host) would hold this
	// destroy as long. Even this one is bounded: a destroy must not
	// wait forever.
	_, _ = btrfsWithin(subvolumeSyncTimeout, "subvolume", "sync", parent, strings.TrimPrefix(q, "0/"))
	for try := 0; ; try++ {
		out, err := btrfs("qgroup", "show", parent)
		if err != nil {
			return err
		}
		if !hasQgroup(out, q) {
			return nil
		}
		if try == 100 {
			return fmt.Errorf("qgroup %s stays after its subvolume was deleted", q)
		}
		// The removal shows in qgroup show after a commit (6.1).
		if _, err := btrfs("qgroup", "destroy", q, parent); err == nil {
			_, _ = btrfs("filesystem", "sync", parent)
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// subvolumeSyncTimeout bounds DropQgroup's wait for the cleaner.
const subvolumeSyncTimeout = time.Minute

// hasQgroup tells whether btrfs qgroup show's output lists q.
func hasQgroup(out, q string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == q {
			return true
		}
	}
	return false
}
