package fsshare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/internal/testfs"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, overlay mounts)")
	}
}

func requireOverlay(t *testing.T) {
	t.Helper()
	requireRoot(t)
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		t.Skip("needs the overlay filesystem (CONFIG_OVERLAY_FS)")
	}
}

// newTestStorage gives a Storage in a temp dir and checks at the end that
// nothing is left mounted below it.
func newTestStorage(t *testing.T) *Storage {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m, _ := mountsUnder(dir); len(m) > 0 {
			t.Errorf("mounts left behind: %v", m)
		}
	})
	return s
}

// stagingLeft lists staging dirs in templates/.
func stagingLeft(t *testing.T, s *Storage) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.DataDir(), "templates", stagingPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newBtrfs mounts a fresh btrfs of sizeMiB (see testfs.Loop).
func newBtrfs(t testing.TB, sizeMiB int64) string {
	t.Helper()
	requireRoot(t)
	return testfs.Loop(t, "btrfs", sizeMiB)
}

// zv is the volume of an existing zone, found as `zoned recover` finds
// it: tests have no store record naming its pool.
func zv(s *Storage, zone string) *Volume { return s.FindVolume(zone) }

// zvIn is the volume of zone in pool, for a create.
func zvIn(t testing.TB, s *Storage, pool, zone string) *Volume {
	t.Helper()
	v, err := s.Volume(pool, zone)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
