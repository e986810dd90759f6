package manager

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/store"
)

// Tests of templates and pools: the manager over the real storage in a
// temporary data directory (none of it needs root), zones on the fakes.

// initTar is a template with nothing but an init.
func initTar(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("#!/bin/sh\n")
	for _, h := range []*tar.Header{
		{Name: "sbin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "sbin/init", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))},
	} {
		h.Uid, h.Gid = os.Getuid(), os.Getgid()
		h.ModTime = time.Now()
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestTemplates(t *testing.T) {
	tz := newTestZones(t)
	tmpl, err := tz.m.ImportTemplate(ctx, "imported", initTar(t))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Name != "imported" || tmpl.Source != "tar" || tmpl.Init == "" || tmpl.SizeBytes == 0 {
		t.Errorf("imported template %+v", tmpl)
	}
	// A second template of that name is refused and the first kept.
	if _, err := tz.m.ImportTemplate(ctx, "imported", initTar(t)); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second import: %v", err)
	}
	// A tar without an init leaves nothing.
	if _, err := tz.m.ImportTemplate(ctx, "noinit", &bytes.Buffer{}); err == nil {
		t.Error("a template without an init was imported")
	}
	if _, err := tz.m.GetTemplate(ctx, "noinit"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("failed import left a record: %v", err)
	}

	// From a directory, as an operation.
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "sbin", "init"), "#!/bin/sh\n")
	op, err := tz.m.CreateTemplate(ctx, api.CreateTemplateRequest{Name: "fromdir", From: "dir", Path: src})
	if err != nil {
		t.Fatal(err)
	}
	op, err = tz.m.WaitOperation(ctx, op.ID, 10*time.Second)
	if err != nil || op.Status != api.OperationSuccess {
		t.Fatalf("build from a directory: %v %+v", err, op)
	}
	for _, req := range []api.CreateTemplateRequest{
		{Name: "-x", From: "dir", Path: src},
		{Name: "x", From: "nowhere"},
		{Name: "x", From: "dir", Path: "relative"},
		{Name: "x", From: "dir", Path: "/nonexistent/dir"},
		{Name: "x", From: "debootstrap", Include: []string{"-bad"}},
		{Name: "x", From: "debootstrap", Mirror: "ftp://example"},
		{Name: "fromdir", From: "dir", Path: src},
	} {
		if _, err := tz.m.CreateTemplate(ctx, req); err == nil || errdefs.Field(err) == "" {
			t.Errorf("request %+v: %v, want an error on a field", req, err)
		}
	}

	tz.create("z")
	list, err := tz.m.ListTemplates(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %v %+v", err, list)
	}
	base, err := tz.m.GetTemplate(ctx, testTemplate)
	if err != nil || len(base.Zones) != 1 || base.Zones[0] != "z" {
		t.Errorf("template in use: %v %+v", err, base)
	}
	if err := tz.m.DeleteTemplate(ctx, testTemplate); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("delete of a template in use: %v", err)
	}
	if err := tz.m.DeleteTemplate(ctx, "imported"); err != nil {
		t.Fatal(err)
	}
	if _, err := tz.m.GetTemplate(ctx, "imported"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("deleted template: %v", err)
	}
	if err := tz.m.DeleteTemplate(ctx, "imported"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A zone is not made from a template still being built.
	if err := tz.m.store.CreateTemplate(&store.TemplateRecord{Name: "building", State: templateBuilding}); err != nil {
		t.Fatal(err)
	}
	if _, err := tz.m.CreateZone(ctx, api.CreateZoneRequest{Name: "y", Template: "building"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("zone from a template being built: %v", err)
	}
}

func TestPools(t *testing.T) {
	tz := newTestZones(t)
	dir := t.TempDir()
	p, err := tz.m.CreatePool(ctx, api.CreatePoolRequest{Name: "fast", Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "fast" || p.Backend != fsshare.BackendOverlay {
		t.Errorf("pool %+v", p)
	}
	if _, err := tz.m.CreatePool(ctx, api.CreatePoolRequest{Name: "fast", Path: t.TempDir()}); err == nil {
		t.Error("a second pool of one name was made")
	}
	if _, err := tz.m.CreatePool(ctx, api.CreatePoolRequest{Name: "-x", Path: dir}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	pools, err := tz.m.ListPools(ctx)
	if err != nil || len(pools) != 2 || !pools[0].Default || pools[1].Name != "fast" || pools[1].Path != dir {
		t.Fatalf("pools: %v %+v", err, pools)
	}
	// A pool a zone uses stays.
	if err := tz.m.store.CreateZone(&store.ZoneRecord{Name: "infast", Template: testTemplate, Pool: "fast", State: api.StateStopped}); err != nil {
		t.Fatal(err)
	}
	if err := tz.m.DeletePool(ctx, "fast"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("delete of a pool in use: %v", err)
	}
	if err := tz.m.store.DeleteZone("infast"); err != nil {
		t.Fatal(err)
	}
	// Pools come back with the daemon.
	tz.close()
	tz.open()
	if pools, _ := tz.m.ListPools(ctx); len(pools) != 2 {
		t.Errorf("pools after a restart: %+v", pools)
	}
	if err := tz.m.DeletePool(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	if pools, _ := tz.m.ListPools(ctx); len(pools) != 1 {
		t.Errorf("pools after the delete: %+v", pools)
	}
	if err := tz.m.DeletePool(ctx, "-x"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
}

func TestDiskUsage(t *testing.T) {
	tz := newTestZones(t)
	tz.create("z")
	du, err := tz.m.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(du.Templates) != 1 || du.Templates[0].Name != testTemplate || du.Templates[0].Zones != 1 || du.Templates[0].Bytes == 0 {
		t.Errorf("templates %+v", du.Templates)
	}
	// The fake volume's usage is what the create wrote: hostname and
	// machine-id.
	if len(du.Zones) != 1 || du.Zones[0].Name != "z" || du.Zones[0].OwnBytes != int64(len("z\n")+33) {
		t.Errorf("zones %+v", du.Zones)
	}
	if du.UsedBytes == 0 || du.SavedBytes != du.FullCopyBytes-du.UsedBytes {
		t.Errorf("usage %+v", du)
	}
}

// TestZoneOfAGonePool: a zone whose pool went away is left out of the
// disk usage, and destroying it frees its directory in the data dir.
func TestZoneOfAGonePool(t *testing.T) {
	tz := newTestZones(t)
	tz.create("z")
	if _, err := tz.m.store.UpdateZone("z", func(z *store.ZoneRecord) error {
		z.Pool = "gone"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	du, err := tz.m.DiskUsage(ctx)
	if err != nil || len(du.Zones) != 0 {
		t.Errorf("disk usage: %v %+v", err, du.Zones)
	}
	if _, err := tz.m.StartZone(ctx, "z"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("start of a zone whose pool is gone: %v", err)
	}
	tz.log.take()
	if err := tz.m.DestroyZone(ctx, "z", false); err != nil {
		t.Fatal(err)
	}
	if calls := only(tz.log.take(), "root."); !equalStrings(calls, []string{"root.delete"}) || tz.roots.has("z") || tz.record("z") != nil {
		t.Errorf("destroy of a zone whose pool is gone: %v", calls)
	}
}
