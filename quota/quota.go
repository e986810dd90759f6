//go:build linux

// Package quota caps the disk a zone's own layer may take, and reports what
// it takes. Three backends enforce a cap, chosen by the filesystem the
// zone's directory is on:
//
//   - "btrfs-qgroup": the zone's directory is a btrfs subvolume whose qgroup
//     has a byte limit (referenced bytes for a plain subvolume, exclusive
//     bytes for a snapshot, whose shared extents belong to its template).
//   - "project": ext4 or XFS with project quotas enabled; the directory gets
//     a project ID of its own with the inherit flag, so everything created
//     below it is charged to that project, and quotactl limits the project.
//   - "image": anywhere else, an ext4 filesystem in a sparse file, attached
//     to a loop device and mounted over the zone's directory, as Virtuozzo's
//     ploop: the filesystem's size is the cap.
//
// A quota is per directory (per layer), never per UID: an unprivileged
// zone's files belong to its own range of host IDs, and a zone may use any
// of them.
//
// Every backend works on a directory path, so it serves an overlay upper
// directory's parent as well as a btrfs subvolume that is the zone's root.
package quota

import (
	"fmt"

	"github.com/zoned-project/zoned/errdefs"
)

// Backend names, as Detect returns them and the API shows them.
const (
	BtrfsQgroup = "btrfs-qgroup"
	Project     = "project"
	Image       = "image"
)

// MinImageBytes is the smallest image the image backend makes: below it
// ext4's own metadata takes most of the space.
const MinImageBytes = 32 << 20

// Limits are the caps of one directory; 0 means no cap.
type Limits struct {
	Bytes  int64
	Inodes int64
}

// Usage is what a directory under a quota takes and may take.
type Usage struct {
	Backend     string `json:"backend"`
	Bytes       int64  `json:"bytes"`
	Inodes      int64  `json:"inodes,omitempty"`
	LimitBytes  int64  `json:"limit_bytes,omitempty"`
	LimitInodes int64  `json:"limit_inodes,omitempty"`
}

// Validate checks limits before anything changes.
func Validate(l Limits) error {
	if l.Bytes < 0 {
		return fmt.Errorf("disk_bytes = %d: must not be negative: %w", l.Bytes, errdefs.ErrInvalid)
	}
	if l.Inodes < 0 {
		return fmt.Errorf("disk_inodes = %d: must not be negative: %w", l.Inodes, errdefs.ErrInvalid)
	}
	if l.Inodes > 0 && l.Bytes == 0 {
		return fmt.Errorf("disk_inodes = %d needs disk_bytes too: an inode cap alone leaves the disk open: %w", l.Inodes, errdefs.ErrInvalid)
	}
	if l.Inodes > 1<<32-1 {
		return fmt.Errorf("disk_inodes = %d: above the 2^32-1 a filesystem can hold: %w", l.Inodes, errdefs.ErrInvalid)
	}
	return nil
}
