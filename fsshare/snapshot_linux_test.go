package fsshare

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/quota"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

func TestSnapshotRestore(t *testing.T) {
	requireOverlay(t)
	for _, backend := range []string{BackendOverlay, BackendBtrfs} {
		t.Run(backend, func(t *testing.T) {
			s := newTestStorage(t)
			pool := DefaultPool
			if backend == BackendBtrfs {
				mnt := newBtrfs(t, 256)
				if _, err := s.AddPool("b", filepath.Join(mnt, "pool"), ""); err != nil {
					t.Fatal(err)
				}
				pool = "b"
			}
			if err := s.BuildBuiltin(context.Background(), "bb"); err != nil {
				t.Fatal(err)
			}
			if err := zvIn(t, s, pool, "z").Create("bb", quota.Limits{}); err != nil {
				t.Fatal(err)
			}
			const base = 1 << 20
			if err := zv(s, "z").MapIDs(base); err != nil {
				t.Fatal(err)
			}
			write := func(p, data string) {
				t.Helper()
				if err := zv(s, "z").WriteFile(p, []byte(data), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			read := func(p string) string {
				b, err := os.ReadFile(filepath.Join(zv(s, "z").LayerDir(), p))
				if err != nil {
					return "<" + err.Error() + ">"
				}
				return string(b)
			}
			write("/etc/a", "1")
			write("/etc/b", "b")
			var before unix.Stat_t
			if err := unix.Stat(filepath.Join(zv(s, "z").LayerDir(), "etc", "a"), &before); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").CreateSnapshot("s1"); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").CreateSnapshot("s1"); !errors.Is(err, errdefs.ErrAlreadyExists) {
				t.Fatalf("second s1: %v", err)
			}
			for _, bad := range []string{"../x", "a/b", ".staging-x", ""} {
				if err := zv(s, "z").CreateSnapshot(bad); !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("snapshot name %q: %v", bad, err)
				}
			}
			write("/etc/a", "2")
			write("/etc/c", "c")
			os.Remove(filepath.Join(zv(s, "z").LayerDir(), "etc", "b"))

			if names, err := zv(s, "z").ListSnapshots(); err != nil || !slices.Equal(names, []string{"s1"}) {
				t.Fatalf("ListSnapshots = %v, %v", names, err)
			}
			// Restore refuses a mounted root.
			m := zv(s, "z").RootMount("bb")
			if m.Type == "bind" {
				err := unix.Mount(m.Source, m.Destination, "", unix.MS_BIND, "")
				if err != nil {
					t.Fatal(err)
				}
			} else if err := unix.Mount("overlay", m.Destination, "overlay", 0, strings.Join(m.Options, ",")); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").RestoreSnapshot("s1"); !errors.Is(err, errdefs.ErrConflict) {
				t.Fatalf("restore of a mounted zone: %v", err)
			}
			unix.Unmount(m.Destination, unix.MNT_DETACH)

			if err := zv(s, "z").RestoreSnapshot("s1"); err != nil {
				t.Fatal(err)
			}
			if a, b, c := read("etc/a"), read("etc/b"), read("etc/c"); a != "1" || b != "b" || c[0] != '<' {
				t.Fatalf("after restore a=%q b=%q c=%q", a, b, c)
			}
			var after unix.Stat_t
			if err := unix.Stat(filepath.Join(zv(s, "z").LayerDir(), "etc", "a"), &after); err != nil {
				t.Fatal(err)
			}
			if after.Uid != before.Uid || after.Gid != before.Gid || after.Mode != before.Mode {
				t.Fatalf("restored file %o %d:%d, was %o %d:%d", after.Mode, after.Uid, after.Gid, before.Mode, before.Uid, before.Gid)
			}
			// The restored layer still belongs to the zone's IDs (overlay
			// shifts them; btrfs keeps the template's and idmaps).
			var up unix.Stat_t
			unix.Stat(zv(s, "z").LayerDir(), &up)
			if want := uint32(0); backend == BackendOverlay && up.Uid != base || backend == BackendBtrfs && up.Uid != want {
				t.Fatalf("restored layer root owned by %d", up.Uid)
			}
			// The snapshot is still there, and restoring twice works.
			if err := zv(s, "z").RestoreSnapshot("s1"); err != nil {
				t.Fatal(err)
			}
			if _, err := zv(s, "z").SnapshotSize("s1"); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").CreateSnapshot("s2"); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").DeleteSnapshot("s2"); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").DeleteSnapshot("s2"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			// A restore interrupted between its renames is put back.
			dir, _ := zv(s, "z").snapshotsDir()
			if err := os.Rename(zv(s, "z").LayerDir(), filepath.Join(dir, stagingPrefix+"old-x")); err != nil {
				t.Fatal(err)
			}
			if err := zv(s, "z").CleanupSnapshots(); err != nil {
				t.Fatal(err)
			}
			if read("etc/a") != "1" {
				t.Fatal("cleanup did not put the layer back")
			}
			// Deleting the zone deletes its snapshots (read-only
			// subvolumes on btrfs).
			if err := zv(s, "z").Delete(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(s.ZoneDir("z")); !os.IsNotExist(err) {
				t.Fatalf("zone dir left: %v", err)
			}
			if pool != DefaultPool {
				if err := s.RemovePool(pool); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
