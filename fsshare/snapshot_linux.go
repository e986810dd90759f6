package fsshare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// Snapshots of a zone's own layer live beside it in the pool:
//
//	LAYER/snapshots/SNAP/            overlay: SNAP/upper, a copy of the upper dir (reflinked where the filesystem can)
//	LAYER/snapshots/SNAP             btrfs: a read-only snapshot of LAYER/rootfs
//	LAYER/snapshots/.staging-SNAP-*  a snapshot being made; renamed into place when complete
//
// A snapshot holds only the zone's own layer: the template it sits on
// cannot change while the zone uses it.

func (v *Volume) snapshotsDir() (string, *pool) {
	return filepath.Join(v.layer(), "snapshots"), v.p
}

// checkSnapshotName checks a snapshot's name, which reaches fsshare from
// on-disk listings as well as from the manager.
func checkSnapshotName(snap string) error {
	return validate.Name("snapshot", snap)
}

// CreateSnapshot copies the zone's own layer as snapshot snap. The caller
// makes sure nothing writes to the layer meanwhile (a stopped zone, or a
// frozen one). A failure leaves no snapshot.
func (v *Volume) CreateSnapshot(snap string) error {
	s, zone := v.s, v.zone
	if err := checkSnapshotName(snap); err != nil {
		return err
	}
	dir, p := v.snapshotsDir()
	layer := s.layerDir(zone, p)
	if _, err := os.Stat(p.backend.WritableDir(layer)); err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", zone, snap, errdefs.ErrNotFound)
	}
	dst := filepath.Join(dir, snap)
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("snapshot %s@%s: %w", zone, snap, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("snapshot %s@%s: %w", zone, snap, err)
	}
	tmp := filepath.Join(dir, stagingPrefix+snap+"-"+randomSuffix())
	if err := p.backend.CopyLayer(p.backend.WritableDir(layer), tmp, true); err != nil {
		_ = p.backend.RemoveSnapshot(tmp)
		return fmt.Errorf("snapshot %s@%s: %w", zone, snap, err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		_ = p.backend.RemoveSnapshot(tmp)
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("snapshot %s@%s: %w", zone, snap, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("snapshot %s@%s: %w", zone, snap, err)
	}
	return nil
}

// syncDir flushes the filesystem holding dir: a snapshot reported made
// must survive a crash.
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// removeSnapshotDir removes a snapshot, or what an interrupted one left,
// whether a subvolume or a plain directory.
func removeSnapshotDir(p string) error {
	if isSubvolume(p) {
		return btrfsSubvolDelete(p)
	}
	return removeTree(p)
}

// ListSnapshots names the zone's snapshots, sorted.
func (v *Volume) ListSnapshots() ([]string, error) {
	dir, _ := v.snapshotsDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), stagingPrefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// SnapshotSize is the bytes snapshot snap takes on disk that nothing else
// shares.
func (v *Volume) SnapshotSize(snap string) (int64, error) {
	if err := checkSnapshotName(snap); err != nil {
		return 0, err
	}
	dir, p := v.snapshotsDir()
	sd := filepath.Join(dir, snap)
	return p.backend.SnapshotSize(sd)
}

// RestoreSnapshot makes the zone's own layer what it was in snapshot snap.
// The zone must be stopped (its root unmounted). The current layer is
// replaced only once the copy is complete.
func (v *Volume) RestoreSnapshot(snap string) error {
	s, zone := v.s, v.zone
	if err := checkSnapshotName(snap); err != nil {
		return err
	}
	dir, p := v.snapshotsDir()
	sd := filepath.Join(dir, snap)
	if _, err := os.Lstat(sd); err != nil {
		return fmt.Errorf("restore %s@%s: %w", zone, snap, errdefs.ErrNotFound)
	}
	if m, err := mountsUnder(s.ZoneDir(zone)); err != nil || len(m) > 0 {
		return fmt.Errorf("restore %s@%s: the zone's root is mounted (%v): stop it first: %w", zone, snap, m, errdefs.ErrConflict)
	}
	layer := s.layerDir(zone, p)
	cur := p.backend.WritableDir(layer)
	tmp := filepath.Join(dir, stagingPrefix+"restore-"+snap+"-"+randomSuffix())
	b := p.backend
	if err := b.CopyLayer(b.SnapshotFiles(sd), tmp, false); err != nil {
		_ = b.RemoveSnapshot(tmp)
		return fmt.Errorf("restore %s@%s: %w", zone, snap, err)
	}
	fresh := b.SnapshotFiles(tmp)
	old := filepath.Join(dir, stagingPrefix+"old-"+randomSuffix())
	if err := unix.Rename(cur, old); err != nil {
		_ = b.RemoveSnapshot(tmp)
		return fmt.Errorf("restore %s@%s: %w", zone, snap, err)
	}
	if err := unix.Rename(fresh, cur); err != nil {
		// Put the layer back as it was.
		_ = unix.Rename(old, cur)
		_ = b.RemoveSnapshot(tmp)
		return fmt.Errorf("restore %s@%s: %w", zone, snap, err)
	}
	b.Restored(layer)
	_ = b.RemoveSnapshot(old)
	_ = b.RemoveSnapshot(tmp)
	return nil
}

// DeleteSnapshot removes snapshot snap of the zone.
func (v *Volume) DeleteSnapshot(snap string) error {
	zone := v.zone
	if err := checkSnapshotName(snap); err != nil {
		return err
	}
	dir, p := v.snapshotsDir()
	sd := filepath.Join(dir, snap)
	if _, err := os.Lstat(sd); err != nil {
		return fmt.Errorf("delete snapshot %s@%s: %w", zone, snap, errdefs.ErrNotFound)
	}
	if err := p.backend.RemoveSnapshot(sd); err != nil {
		return fmt.Errorf("delete snapshot %s@%s: %w", zone, snap, err)
	}
	return nil
}

// deleteSnapshots removes every snapshot of the zone, staging ones too.
func (v *Volume) deleteSnapshots() error {
	dir, p := v.snapshotsDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := p.backend.RemoveSnapshot(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

// CleanupSnapshots removes what interrupted snapshots and restores of the
// zone left.
func (v *Volume) CleanupSnapshots() error {
	s, zone := v.s, v.zone
	dir, p := v.snapshotsDir()
	entries, _ := os.ReadDir(dir)
	// A restore that stopped between its two renames left the zone's
	// layer as .staging-old-*: put it back before anything is removed.
	cur := p.backend.WritableDir(s.layerDir(zone, p))
	if _, err := os.Lstat(cur); errors.Is(err, fs.ErrNotExist) {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), stagingPrefix+"old-") {
				if err := unix.Rename(filepath.Join(dir, e.Name()), cur); err != nil {
					return fmt.Errorf("put back the layer of zone %q: %w", zone, err)
				}
				entries, _ = os.ReadDir(dir)
				break
			}
		}
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagingPrefix) {
			if err := p.backend.RemoveSnapshot(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
