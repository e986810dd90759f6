package integration

import (
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
	for _, privileged := range []bool{true, false} {
		name := "mi-unpriv"
		if privileged {
			name = "mi-priv"
		} else {
			requireIDMappedOverlay(t)
		}
		t.Run(name, func(t *testing.T) {
			ctx := ctxT(t)
			req := api.CreateZoneRequest{Name: name, Template: "busybox", Privileged: privileged}
			if _, err := d.c.CreateZone(ctx, req); err != nil {
				t.Fatal(err)
			}
			if _, err := d.c.StartZone(ctx, name); err != nil {
				t.Fatalf("start: %v\n%s", err, d.logs())
			}
			for _, f := range []string{"/proc/self/mountinfo", "/proc/1/mountinfo", "/proc/self/mounts"} {
				out := d.mustExec(name, "cat", f)
				if strings.Contains(out, d.dataDir) {
					t.Errorf("%s in the zone shows the daemon's data dir %s:\n%s", f, d.dataDir, out)
				}
			}
		})
	}
}
