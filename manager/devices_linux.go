package manager

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/store"
)

// makeDeviceNodes makes the nodes of the optional devices a zone asked for
// in its own directory, with the modes the spec gives and owned by the
// zone's root, for the zone init to bind into /dev. The host's own nodes
// are not used: their modes are the host's business (often 0600 for root),
// and root of a user-namespaced zone is not the host's root. The device
// policy still decides what the zone may open.
func (m *Manager) makeDeviceNodes(rec *store.ZoneRecord) (string, error) {
	if rec.Spec == nil || rec.Spec.Linux == nil || len(rec.Spec.Linux.Devices) == 0 {
		return "", nil
	}
	dir := filepath.Join(m.fs.ZoneDir(rec.Name), "dev")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	for _, d := range rec.Spec.Linux.Devices {
		mode := uint32(0o600)
		if d.FileMode != nil {
			mode = uint32(d.FileMode.Perm())
		}
		node := filepath.Join(dir, filepath.Base(d.Path))
		if err := unix.Mknod(node, unix.S_IFCHR|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return "", fmt.Errorf("make node for %s: %w", d.Path, err)
		}
		// mknod applies the umask: set the spec's mode exactly.
		if err := os.Chmod(node, os.FileMode(mode)); err != nil {
			return "", err
		}
		if rec.IDMapSize > 0 {
			if err := os.Chown(node, int(rec.IDMapBase), int(rec.IDMapBase)); err != nil {
				return "", err
			}
		}
	}
	// The directory stays host root's: the zone's root owns only its
	// nodes, not the place the daemon writes them to.
	return dir, nil
}
