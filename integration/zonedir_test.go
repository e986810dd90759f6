//go:build linux

package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// checkZoneDirOwners walks zones/NAME of an unprivileged zone whose first
// host ID is base: every file the daemon writes there (console log,
// idmap, template marker, device nodes...) must sit in a directory host
// root owns and no one else may write, and only the layer (upper, work)
// belongs to the zone's range.
func checkZoneDirOwners(t *testing.T, dir string, base uint32) {
	t.Helper()
	layer := map[string]bool{filepath.Join(dir, "upper"): true, filepath.Join(dir, "work"): true}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		if layer[p] {
			if st.Uid < base || st.Uid >= base+65536 {
				t.Errorf("%s: owner %d, want the zone's range %d+65536", p, st.Uid, base)
			}
			return fs.SkipDir
		}
		if e.IsDir() {
			if st.Uid != 0 || st.Mode&0o022 != 0 {
				t.Errorf("%s holds the daemon's files: owner %d mode %o, want host root's, writable by no one else", p, st.Uid, st.Mode&0o7777)
			}
			if p == dir && st.Mode&0o007 != 0 {
				t.Errorf("%s: mode %o lets any host user in", p, st.Mode&0o7777)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestZoneDirOwnedByHostRoot: after create and start of an unprivileged
// zone, the zone's directory and everything the daemon wrote into it
// belong to host root; the zone's IDs own only its layer. A zone directory
// left owned by the zone's root (as older versions made them) is taken
// back when the daemon starts, and the zone still starts from it.
func TestZoneDirOwnedByHostRoot(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	req := api.CreateZoneRequest{Name: "owned", Template: "busybox"}
	if _, err := os.Stat("/dev/net/tun"); err == nil {
		req.Devices = []string{"tun"} // so the daemon writes device nodes too
	}
	if _, err := d.c.CreateZone(ctx, req); err != nil {
		t.Fatal(err)
	}
	z, err := d.c.StartZone(ctx, "owned")
	if err != nil {
		t.Fatalf("start: %v\n%s", err, d.logs())
	}
	if z.IDMap == nil {
		t.Fatal("zone has no ID map")
	}
	base := z.IDMap.HostID
	dir := filepath.Join(d.dataDir, "zones", "owned")
	d.mustExec("owned", "sh", "-c", "echo hello > /dev/console")
	waitFor(t, 10*time.Second, "console log", func() bool {
		_, err := os.Stat(filepath.Join(dir, "console.log"))
		return err == nil
	})
	checkZoneDirOwners(t, dir, base)

	// The old layout: the zone's root owns its directory and mountpoint.
	if _, err := d.c.StopZone(ctx, "owned", api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	d.stop()
	for _, p := range []string{dir, filepath.Join(dir, "root")} {
		if err := os.Lchown(p, int(base), int(base)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d.start()
	checkZoneDirOwners(t, dir, base)
	if _, err := d.c.StartZone(ctx, "owned"); err != nil {
		t.Fatalf("start after the daemon took the directory back: %v\n%s", err, d.logs())
	}
	d.mustExec("owned", "true")
}
