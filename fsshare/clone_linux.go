package fsshare

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// CloneFrom replaces the fresh layer of zone v (made by Create and
// MapIDs, nothing written yet) with a copy of zone src's own layer. Both must be in pools of the same backend: a
// btrfs clone is a snapshot of src's subvolume, an overlay clone a copy
// of its upper dir (reflinked where the filesystem can) whose owners are
// moved from src's host ID range to dst's. The caller keeps src from
// changing meanwhile.
func (v *Volume) CloneFrom(srcVol *Volume) error {
	src, dst := srcVol.zone, v.zone
	sp, dp := srcVol.p, v.p
	if sp.backend.Name() != dp.backend.Name() {
		return fmt.Errorf("clone %s (pool %s, %s) into pool %s (%s): a clone stays on its backend; export and import to move between backends: %w",
			src, sp.name, sp.backend.Name(), dp.name, dp.backend.Name(), errdefs.ErrUnsupported)
	}
	from, to := srcVol.LayerDir(), v.LayerDir()
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("clone %s: its layer: %w", src, errdefs.ErrNotFound)
	}
	if err := dp.backend.CloneLayer(from, to, srcVol.idShift(), v.idShift()); err != nil {
		return fmt.Errorf("clone %s to %s: %w", src, dst, err)
	}
	return nil
}

// shiftOwners moves every owner below root from one zone's host ID range
// (IDs from..from+n) to another's (to..): an ID i becomes i-from+to. IDs
// below from (a privileged zone's, or 0 when from is 0) are taken as
// zone-relative. chown clears set-id bits and file capabilities, so both
// are put back.
func shiftOwners(root string, from, to int) error {
	if from == to {
		return nil
	}
	move := func(id uint32) int {
		if int(id) >= from {
			return int(id) - from + to
		}
		return int(id) + to
	}
	// By descriptor (treeWalk): the tree is a zone's, maybe deeper than
	// PATH_MAX, and its symlinks must not be followed.
	w := treeWalk{visit: func(e *walkEntry) error {
		st := &e.St
		if err := shiftEntry(e, move(st.Uid), move(st.Gid)); err != nil {
			return fmt.Errorf("%s: %w", shortName(e.Rel()), err)
		}
		return nil
	}}
	return w.run(root)
}

// shiftEntry gives e the owner uid:gid, keeping its set-id bits and file
// capabilities, which chown clears.
func shiftEntry(e *walkEntry, uid, gid int) error {
	st := &e.St
	var caps []byte
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		p := procPath(e.Dir, e.Name)
		if n, err := unix.Lgetxattr(p, "security.capability", nil); err == nil && n > 0 {
			caps = make([]byte, n)
			if n, err = unix.Lgetxattr(p, "security.capability", caps); err != nil {
				return err
			}
			caps = caps[:n]
		}
	}
	if e.FD >= 0 { // a directory, the root among them
		if err := unix.Fchown(e.FD, uid, gid); err != nil {
			return err
		}
		if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			return unix.Fchmod(e.FD, st.Mode&0o7777)
		}
		return nil
	}
	if err := unix.Fchownat(e.Dir, e.Name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	if st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
		if err := unix.Fchmodat(e.Dir, e.Name, st.Mode&0o7777, 0); err != nil {
			return err
		}
	}
	if caps != nil {
		if err := unix.Lsetxattr(procPath(e.Dir, e.Name), "security.capability", caps, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return err
		}
	}
	return nil
}
