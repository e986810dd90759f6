package fsshare

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/quota"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

func TestPoolBackendChoice(t *testing.T) {
	requireOverlay(t)
	s := newTestStorage(t)
	if s.Backend() != BackendOverlay {
		t.Fatalf("default backend on %s = %s, want overlay", s.DataDir(), s.Backend())
	}
	plain := t.TempDir()
	for _, tc := range []struct {
		name, dir, backend string
		want               error
	}{
		{"p1", filepath.Join(plain, "a"), BackendBtrfs, errdefs.ErrInvalid}, // not on btrfs
		{"p2", filepath.Join(plain, "b"), "zfs", errdefs.ErrInvalid},        // unknown backend
		{"p3", "relative/dir", "", errdefs.ErrInvalid},
		{"p4", filepath.Join(s.DataDir(), "zones", "x"), "", errdefs.ErrInvalid}, // inside the data dir
		{"../up", filepath.Join(plain, "c"), "", errdefs.ErrInvalid},             // name leaving the storage dir
		{DefaultPool, filepath.Join(plain, "d"), "", errdefs.ErrAlreadyExists},
		{"p5", filepath.Join(plain, "e,lowerdir=/"), "", errdefs.ErrInvalid},
	} {
		if _, err := s.AddPool(tc.name, tc.dir, tc.backend); !errors.Is(err, tc.want) {
			t.Errorf("AddPool(%q, %q, %q) = %v, want %v", tc.name, tc.dir, tc.backend, err, tc.want)
		} else {
			t.Logf("AddPool(%q, %q, %q): %v", tc.name, tc.dir, tc.backend, err)
		}
	}
	if len(s.Pools()) != 1 {
		t.Fatalf("failed adds left pools: %+v", s.Pools())
	}
	if left, _ := os.ReadDir(plain); len(left) > 0 {
		t.Fatalf("failed adds left directories: %v", left)
	}
	info, err := s.AddPool("ov", filepath.Join(plain, "ov"), "")
	if err != nil || info.Backend != BackendOverlay {
		t.Fatalf("AddPool overlay = %+v, %v", info, err)
	}
	if _, err := s.AddPool("ov2", filepath.Join(plain, "ov", "sub"), ""); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("overlapping pool: %v, want ErrConflict", err)
	}

	// A zone in a second overlay pool: its layer is in the pool, its
	// metadata and mountpoint in the data dir.
	ctx := context.Background()
	if err := s.BuildBuiltin(ctx, "bb"); err != nil {
		t.Fatal(err)
	}
	if err := zvIn(t, s, "ov", "z1").Create("bb", quota.Limits{}); err != nil {
		t.Fatal(err)
	}
	if got, want := zv(s, "z1").LayerDir(), filepath.Join(plain, "ov", "zones", "z1", "upper"); got != want {
		t.Fatalf("LayerDir = %s, want %s", got, want)
	}
	if zv(s, "z1").Pool() != "ov" {
		t.Fatalf("Pool = %s", zv(s, "z1").Pool())
	}
	// The store record names the pool: nothing in the zone's directory
	// does. A marker an older version left there is ignored.
	if _, err := os.Stat(filepath.Join(s.ZoneDir("z1"), "pool")); !os.IsNotExist(err) {
		t.Fatalf("create left a pool marker: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.ZoneDir("z1"), "pool"), []byte("elsewhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := zvIn(t, s, "ov", "z1"); v.LayerDir() != filepath.Join(plain, "ov", "zones", "z1", "upper") || v.Backend() != BackendOverlay {
		t.Fatalf("volume from the record's pool = %s (%s)", v.LayerDir(), v.Backend())
	}
	if _, err := s.Volume("nosuch", "z1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Volume in an unknown pool: %v, want ErrNotFound", err)
	}
	if err := zv(s, "z1").WriteFile("/etc/hostname", []byte("z1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(zv(s, "z1").LayerDir(), "etc", "hostname")); err != nil {
		t.Fatal(err)
	}
	root := mountRoot(t, s, "z1", "bb")
	if b, err := os.ReadFile(filepath.Join(root, "etc", "hostname")); err != nil || string(b) != "z1\n" {
		t.Fatalf("hostname through the overlay = %q, %v", b, err)
	}
	unix.Unmount(root, unix.MNT_DETACH)
	if err := s.RemovePool("ov"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("RemovePool with a zone = %v, want ErrConflict", err)
	}
	if err := zv(s, "z1").Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(plain, "ov", "zones", "z1")); !os.IsNotExist(err) {
		t.Fatalf("layer left after delete: %v", err)
	}
	if err := s.RemovePool("ov"); err != nil {
		t.Fatal(err)
	}
}

func TestBtrfsPool(t *testing.T) {
	requireOverlay(t)
	mnt := newBtrfs(t, 256)
	s := newTestStorage(t)
	ctx := context.Background()
	if err := s.BuildBuiltin(ctx, "bb"); err != nil {
		t.Fatal(err)
	}
	info, err := s.AddPool("b", filepath.Join(mnt, "pool"), "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Backend != BackendBtrfs {
		t.Fatalf("pool on btrfs got backend %s", info.Backend)
	}
	// overlay on btrfs is allowed when asked for.
	if info, err := s.AddPool("bo", filepath.Join(mnt, "ov"), BackendOverlay); err != nil || info.Backend != BackendOverlay {
		t.Fatalf("explicit overlay on btrfs: %+v, %v", info, err)
	}
	for _, z := range []string{"z1", "z2"} {
		if err := zvIn(t, s, "b", z).Create("bb", quota.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	tsub := filepath.Join(mnt, "pool", "subvolumes", "templates", "bb")
	if !isSubvolume(tsub) || !isSubvolume(zv(s, "z1").LayerDir()) {
		t.Fatalf("template copy %s or zone layer %s is not a subvolume", tsub, zv(s, "z1").LayerDir())
	}
	// The template copy is read-only: nothing reaches it by mistake.
	if err := os.WriteFile(filepath.Join(tsub, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write into the template subvolume: %v, want EROFS", err)
	}
	// Zones' writes, deletes and renames stay in the zone.
	if err := zv(s, "z1").WriteFile("/etc/hostname", []byte("z1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l1, l2 := zv(s, "z1").LayerDir(), zv(s, "z2").LayerDir()
	if err := os.Remove(filepath.Join(l1, "bin", "busybox")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(l1, "etc"), filepath.Join(l1, "etc2")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(l2, "bin", "busybox"), filepath.Join(tsub, "bin", "busybox"), filepath.Join(s.TemplateRoot("bb"), "bin", "busybox")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("zone z1's delete reached %s: %v", p, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(l2, "etc", "hostname")); string(b) == "z1\n" {
		t.Fatal("z1's hostname visible in z2")
	}
	if b, _ := os.ReadFile(filepath.Join(tsub, "etc", "hostname")); string(b) == "z1\n" {
		t.Fatal("z1's hostname reached the template")
	}
	// A fresh snapshot costs nothing on disk: it shares the template's
	// extents; the template copy costs nothing exclusive either while the
	// zones share it.
	if n, err := zv(s, "z2").Usage(); err != nil || n > 64<<10 {
		t.Fatalf("Usage(z2) = %d, %v; want under 64 KiB", n, err)
	}
	// The root mount is a bind of the snapshot.
	m := zv(s, "z2").RootMount("bb")
	if m.Type != "bind" || m.Source != l2 || m.Destination != s.ZoneRootPath("z2") {
		t.Fatalf("RootMount = %+v", m)
	}
	if err := unix.Mount(m.Source, m.Destination, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Destination, "bin", "busybox")); err != nil {
		t.Fatal(err)
	}
	if err := zv(s, "z2").Delete(); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("delete of a mounted zone: %v", err)
	}
	unix.Unmount(m.Destination, unix.MNT_DETACH)

	for _, z := range []string{"z1", "z2"} {
		if err := zv(s, z).Delete(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(mnt, "pool", "zones", z)); !os.IsNotExist(err) {
			t.Fatalf("zone %s left its layer: %v", z, err)
		}
	}
	if err := s.DeleteTemplate("bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tsub); !os.IsNotExist(err) {
		t.Fatalf("DeleteTemplate left the pool's copy: %v", err)
	}
	// A template copy a crash interrupted is removed by Cleanup.
	stale := filepath.Join(mnt, "pool", "subvolumes", "templates", stagingPrefix+"bb-x")
	if err := btrfsSubvolCreate(stale); err != nil {
		t.Fatal(err)
	}
	if err := s.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("Cleanup left %s: %v", stale, err)
	}
	if err := s.RemovePool("b"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePool("bo"); err != nil {
		t.Fatal(err)
	}
}

// TestBtrfsPoolDiskFull: a zone whose pool is too full for the template's
// copy fails with a clear error and leaves nothing in the pool or the
// data dir.
func TestBtrfsPoolDiskFull(t *testing.T) {
	requireOverlay(t)
	mnt := newBtrfs(t, 128)
	s := newTestStorage(t)
	if err := s.BuildBuiltin(context.Background(), "bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPool("b", filepath.Join(mnt, "pool"), ""); err != nil {
		t.Fatal(err)
	}
	// Fill the filesystem's data space.
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	for _, step := range []int64{16 << 20, 1 << 20, 64 << 10, 4 << 10} {
		for unix.Fallocate(int(f.Fd()), 0, off, step) == nil {
			off += step
		}
	}
	f.Close()
	err = zvIn(t, s, "b", "z").Create("bb", quota.Limits{})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(strings.ToLower(err.Error()), "no space left") {
		t.Fatalf("zone in a full pool: %v, want a no-space error", err)
	}
	t.Log(err)
	if _, err := os.Stat(s.ZoneDir("z")); !os.IsNotExist(err) {
		t.Fatal("zone dir left")
	}
	for _, d := range []string{filepath.Join(mnt, "pool", "zones"), filepath.Join(mnt, "pool", "subvolumes", "templates")} {
		if left, _ := os.ReadDir(d); len(left) > 0 {
			t.Fatalf("%s keeps %v", d, left)
		}
	}
	if err := s.RemovePool("b"); err != nil {
		t.Fatal(err)
	}
}

// TestBtrfsDataDir: a data dir on btrfs makes the default pool btrfs, and
// a zone made there as an overlay layer before pools existed keeps its
// overlay root.
func TestBtrfsDataDir(t *testing.T) {
	requireOverlay(t)
	mnt := newBtrfs(t, 256)
	s, err := New(filepath.Join(mnt, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Backend() != BackendBtrfs {
		t.Fatalf("default backend on btrfs = %s", s.Backend())
	}
	if err := s.BuildBuiltin(context.Background(), "bb"); err != nil {
		t.Fatal(err)
	}
	if err := zvIn(t, s, "", "new").Create("bb", quota.Limits{}); err != nil {
		t.Fatal(err)
	}
	if m := zv(s, "new").RootMount("bb"); m.Type != "bind" || !isSubvolume(zv(s, "new").LayerDir()) {
		t.Fatalf("new zone on a btrfs data dir: %+v", m)
	}
	// An overlay zone of an older zoned.
	old := s.ZoneDir("old")
	if err := os.Mkdir(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := (overlayBackend{}).Create(old, s.TemplateRoot("bb")); err != nil {
		t.Fatal(err)
	}
	if m := zv(s, "old").RootMount("bb"); m.Type != "overlay" || zv(s, "old").LayerDir() != filepath.Join(old, "upper") {
		t.Fatalf("old overlay zone: %+v", m)
	}
	for _, z := range []string{"new", "old"} {
		if err := zv(s, z).Delete(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteTemplate("bb"); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(mnt, "data", "subvolumes", "templates")); len(left) > 0 {
		t.Fatalf("template copies left: %v", left)
	}
}
