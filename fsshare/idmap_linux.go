package fsshare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/internal/validate"
)

// idmapFileName is the file in the zone's directory holding the first host
// ID of an unprivileged zone (absent for a privileged one).
const idmapFileName = "idmap"

// MapIDs prepares a freshly created zone layer for an unprivileged
// zone whose root is host ID base (uid and gid): the overlay upper dir
// takes the template root's owner shifted by base, and the work dir
// becomes base's. Nothing else: the zone's directory holds the daemon's
// own files (console log, idmap and template files, device
// nodes), so it stays host root's, with group base and mode 0710 (see
// zoneDirMode) so the zone's first process, whose group is base, can
// reach its root mountpoint while no host user can enter and the zone's
// IDs can rename or replace nothing in it. The template itself is never
// touched: the zone sees it through an idmapped mount. Files
// WriteFile writes later are shifted the same way.
func (v *Volume) MapIDs(base uint32) error {
	s, zone := v.s, v.zone
	if base == 0 {
		return fmt.Errorf("map IDs of zone %q: host ID 0 is not a zone's range", zone)
	}
	dir := v.Dir()
	b := int(base)
	var st unix.Stat_t
	if lower := s.zoneLower(zone); lower != "" {
		if err := unix.Stat(lower, &st); err != nil {
			return fmt.Errorf("map IDs of zone %q: stat template root: %w", zone, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, idmapFileName), []byte(strconv.Itoa(b)+"\n"), 0o600); err != nil {
		return fmt.Errorf("map IDs of zone %q: %w", zone, err)
	}
	if err := hardenZoneDir(dir, b); err != nil {
		return fmt.Errorf("map IDs of zone %q: %w", zone, err)
	}
	// A btrfs snapshot keeps the template's IDs and is idmapped whole;
	// an overlay upper dir is written with the zone's host IDs.
	if err := v.p.backend.OwnLayer(v.layer(), b, st.Uid, st.Gid); err != nil {
		return fmt.Errorf("map IDs of zone %q: %w", zone, err)
	}
	return nil
}

// idShift is the first host ID of an unprivileged zone, 0 for a
// privileged one.
func (v *Volume) idShift() int {
	if !v.p.backend.ShiftsOwners() {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(v.Dir(), idmapFileName))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// zoneDirMode is the mode of an unprivileged zone's directory, owned by
// host root with the zone's first host ID as its group: search only, for
// the zone's first process to reach root/ (and dev/) below it.
const zoneDirMode = 0o710

// hardenZoneDir makes the zone directory dir host root's with group
// base (0710), and its root mountpoint and device directory host root's:
// only the layer belongs to the zone's IDs. A zone's root owning the
// directory that holds the daemon's files could otherwise rename or
// replace them (the console log the daemon appends to, the idmap file it
// trusts), should anything running as the zone's IDs ever reach the
// host's tree.
func hardenZoneDir(dir string, base int) error {
	if err := os.Lchown(dir, 0, base); err != nil {
		return err
	}
	if err := os.Chmod(dir, zoneDirMode); err != nil {
		return err
	}
	for _, sub := range []string{"root", "dev"} {
		if err := os.Lchown(filepath.Join(dir, sub), 0, 0); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// HardenZoneDirs gives every unprivileged zone's directory the ownership
// Volume.MapIDs gives new ones: zones made by older versions had theirs
// owned by the zone's root. Run at daemon start; running zones are not
// disturbed (their init holds its root already, and exec enters through
// the init's root, not through these paths). A zone it cannot fix does
// not stop it: the error names every such zone.
func (s *Storage) HardenZoneDirs() error {
	entries, err := os.ReadDir(s.zonesDir())
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("harden zone directories: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || validate.Name("zone", e.Name()) != nil {
			continue
		}
		dir := s.ZoneDir(e.Name())
		data, err := os.ReadFile(filepath.Join(dir, idmapFileName))
		if err != nil {
			continue // a privileged zone: host root's, 0700, already
		}
		base, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || base <= 0 {
			errs = append(errs, fmt.Errorf("harden directory of zone %q: bad idmap file %q", e.Name(), data))
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil {
			errs = append(errs, fmt.Errorf("harden directory of zone %q: %w", e.Name(), err))
			continue
		}
		if st.Uid == 0 && int(st.Gid) == base && st.Mode&0o7777 == zoneDirMode {
			continue
		}
		if err := hardenZoneDir(dir, base); err != nil {
			errs = append(errs, fmt.Errorf("harden directory of zone %q: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}
