//go:build linux

package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// TestMountinfoHidesHostPaths: a zone's /proc/self/mountinfo shows
// zone-local values, not where the daemon keeps templates and layers on
// the host (the overlay's lowerdir/upperdir/workdir options, the sources
// of bind mounts such as the device nodes the daemon made). Checked in a
// privileged and an unprivileged zone.
func TestMountinfoHidesHostPaths(t *testing.T) {
	d := startDaemon(t)
	var req api.CreateZoneRequest
	if _, err := os.Stat("/dev/net/tun"); err == nil {
		// Its node is one the daemon made in the zone's directory.
		req.Devices = []string{"tun"}
	}
	d.inEachKindOfZone(t, "mi", req, func(t *testing.T, z *api.Zone) {
		for _, f := range []string{"/proc/self/mountinfo", "/proc/1/mountinfo", "/proc/self/mounts"} {
			out := d.mustExec(z.Name, "cat", f)
			if strings.Contains(out, d.dataDir) {
				t.Errorf("%s in the zone shows the daemon's data dir %s:\n%s", f, d.dataDir, out)
			}
		}
	})
}
