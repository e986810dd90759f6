package fsshare

import (
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

// MapZoneIDs prepares a freshly created zone layer for an unprivileged
// zone whose root is host ID base (uid and gid): the zone's directory
// becomes base's (0700, so its first process can reach its root mountpoint
// while no host user can enter), the overlay upper dir takes the
// template root's owner shifted by base, and the mountpoint belongs to
// base. The work dir stays root's: the daemon, not the zone, mounts the
// overlay. The template itself is never touched: the zone sees it
// through an idmapped mount. Files WriteZoneFile writes later are shifted
// the same way.
func (s *Storage) MapZoneIDs(zone string, base uint32) error {
	if err := validate.Name("zone", zone); err != nil {
		return err
	}
	if base == 0 {
		return fmt.Errorf("map IDs of zone %q: host ID 0 is not a zone's range", zone)
	}
	dir := s.ZoneDir(zone)
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
	chown := map[string][2]int{
		dir:                        {b, b},
		filepath.Join(dir, "root"): {b, b},
	}
	// A btrfs snapshot keeps the template's IDs and is idmapped whole.
	if p := s.zonePool(zone); p.backend.ShiftsOwners() {
		layer := s.layerDir(zone, p)
		chown[p.backend.WritableDir(layer)] = [2]int{b + int(st.Uid), b + int(st.Gid)}
		chown[filepath.Join(layer, "work")] = [2]int{b, b}
	}
	for p, ids := range chown {
		if err := os.Lchown(p, ids[0], ids[1]); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("map IDs of zone %q: %w", zone, err)
		}
	}
	return nil
}

// zoneIDShift is the first host ID of an unprivileged zone, 0 for a
// privileged one.
func (s *Storage) zoneIDShift(zone string) int {
	if !s.zonePool(zone).backend.ShiftsOwners() {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(s.ZoneDir(zone), idmapFileName))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
