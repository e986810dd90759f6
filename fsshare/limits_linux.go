package fsshare

import (
	"archive/tar"
	"fmt"
	"strings"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/units"
)

// Host defaults for what one archive may unpack to. A Debian root with
// desktop packages is a few GiB and some 100,000 entries; these leave
// room for big application templates while a 34 KB zstd bomb can no
// longer become a disk-filling template.
const (
	DefaultImportMaxBytes   int64 = 32 << 30
	DefaultImportMaxEntries int64 = 4_000_000
	// maxEntryPath caps an entry's name and link target. A zone may nest
	// directories past PATH_MAX (4096 bytes), and its export must import
	// again, so the cap is well above it: 256 KiB, some 1300 levels of
	// 200-byte names, while name, link target and xattrs stay within
	// the 1 MiB archive/tar reads of an entry's PAX header. Name bytes
	// past PATH_MAX count against MaxBytes (admit): the extractor opens
	// a name's directories one at a time (from the last entry's parent
	// when the name goes on below it), so an archive of long names that
	// jump around costs time in their length, as contents would.
	maxEntryPath = 256 << 10
	pathMax      = 4096
)

// ImportLimits bound what one archive (a template import, an export
// archive, an image's layers together) may unpack to. A zero field has
// no bound.
type ImportLimits struct {
	// MaxBytes caps the uncompressed contents of its regular files.
	MaxBytes int64
	// MaxEntries caps its entries (files, directories, links).
	MaxEntries int64
	// MaxID refuses owners at or above it: an unprivileged zone's files
	// must be zone IDs its user namespace maps (0..65535), or they would
	// land in another zone's host IDs once shifted.
	MaxID int
	// BytesFrom and EntriesFrom say where the caps come from, for the
	// error ("the host's import limit", "the zone's disk quota").
	BytesFrom, EntriesFrom string
}

// DefaultImportLimits are the host's caps unless the daemon sets others.
func DefaultImportLimits() ImportLimits {
	return ImportLimits{MaxBytes: DefaultImportMaxBytes, MaxEntries: DefaultImportMaxEntries, BytesFrom: HostBytesFrom, EntriesFrom: HostEntriesFrom}
}

// HostBytesFrom and HostEntriesFrom name the host's caps in errors.
const (
	HostBytesFrom   = "the host's import limit (zoned -import-max-bytes)"
	HostEntriesFrom = "the host's import limit (zoned -import-max-entries)"
)

// SetImportLimits sets the host's caps on template imports (tar, OCI,
// directory, a debootstrap cache) and the base of every zone import's.
func (s *Storage) SetImportLimits(l ImportLimits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
}

// ImportLimits returns the host's caps on imports.
func (s *Storage) ImportLimits() ImportLimits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// admit checks an entry against the extractor's limits and the rules
// every archive follows, before anything of it is written.
func (x *extractor) admit(hdr *tar.Header) error {
	x.seen++
	if n := x.lim.MaxEntries; n > 0 && x.seen > n {
		return fmt.Errorf("archive has more than %d entries, %s: %w", n, x.lim.EntriesFrom, errdefs.ErrInvalid)
	}
	if len(hdr.Name) > maxEntryPath || len(hdr.Linkname) > maxEntryPath {
		return fmt.Errorf("name or link target longer than %d bytes: %w", maxEntryPath, errdefs.ErrInvalid)
	}
	// GNU tar strips a leading "/" when it writes an archive and keeps it
	// only with -P; an absolute name in an archive for a zone's root is a
	// tarball of some other tree, or an attempt to write outside the root.
	// Refused, as the docs say, rather than guessed at.
	if strings.HasPrefix(hdr.Name, "/") {
		return fmt.Errorf("absolute path; archive the root's contents with relative names (tar -C ROOT -c .): %w", errdefs.ErrInvalid)
	}
	if hdr.Typeflag == tar.TypeLink && strings.HasPrefix(hdr.Linkname, "/") {
		return fmt.Errorf("hard link to the absolute path %q; hard link targets must be relative to the root: %w", hdr.Linkname, errdefs.ErrInvalid)
	}
	if m := x.lim.MaxID; m > 0 && (hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid >= m || hdr.Gid >= m) {
		return errdefs.WithField("privileged", fmt.Errorf("owner %d:%d is beyond an unprivileged zone's IDs 0-%d (the archive comes from a privileged zone?); grant privileged to import it as it is: %w", hdr.Uid, hdr.Gid, m-1, errdefs.ErrInvalid))
	}
	// overlayfs keeps its own state in trusted.overlay.* xattrs
	// (redirects, metacopy origins, opaque and whiteout marks), which no
	// program in a zone can set; from an archive they would steer the
	// overlay mount of a zone's root. Exports never write them.
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.trusted.overlay.") {
			return fmt.Errorf("xattr %s is overlayfs's own and cannot come from an archive: %w", strings.TrimPrefix(k, "SCHILY.xattr."), errdefs.ErrInvalid)
		}
	}
	for _, n := range []string{hdr.Name, hdr.Linkname} {
		if len(n) > pathMax {
			x.bytes += int64(len(n) - pathMax)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		if hdr.Size < 0 {
			return fmt.Errorf("negative size: %w", errdefs.ErrInvalid)
		}
		x.bytes += hdr.Size
	}
	if m := x.lim.MaxBytes; m > 0 && x.bytes > m {
		return fmt.Errorf("archive unpacks to more than %s, %s; nothing of it is kept: %w", units.FormatBytes(m), x.lim.BytesFrom, errdefs.ErrInvalid)
	}
	return nil
}

// ZoneImportLimits are the caps on an export archive imported as a zone:
// the host's, lowered to the zone's disk quota (bytes and inodes) where
// one is set, and for an unprivileged zone owners within its IDs (idSize).
// A full archive's root counts whole: it becomes a template of that zone
// alone.
func (s *Storage) ZoneImportLimits(diskBytes, diskInodes int64, idSize int) ImportLimits {
	lim := s.ImportLimits()
	if diskBytes > 0 && (lim.MaxBytes == 0 || diskBytes < lim.MaxBytes) {
		lim.MaxBytes, lim.BytesFrom = diskBytes, "the zone's disk quota (resources.disk_bytes)"
	}
	if diskInodes > 0 && (lim.MaxEntries == 0 || diskInodes < lim.MaxEntries) {
		lim.MaxEntries, lim.EntriesFrom = diskInodes, "the zone's inode quota (resources.disk_inodes)"
	}
	lim.MaxID = idSize
	return lim
}

// shortName keeps an entry's name in an error readable: an archive may
// name an entry with a megabyte.
func shortName(name string) string {
	if len(name) <= 256 {
		return name
	}
	return name[:128] + "…" + name[len(name)-64:]
}
