package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	bolt "go.etcd.io/bbolt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state", "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func zone(name string) *ZoneRecord {
	return &ZoneRecord{
		Name:      name,
		UUID:      "uuid-" + name,
		Template:  "bookworm",
		Hostname:  name + ".example.net",
		State:     api.StateCreating,
		Resources: api.Resources{MemoryBytes: 512 << 20, PidsMax: 200},
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(filepath.Join(dir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, s.Path(): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestZoneCRUD(t *testing.T) {
	s := openTemp(t)
	rec := zone("web1")
	if err := s.CreateZone(rec); err != nil {
		t.Fatal(err)
	}
	if rec.Revision != 1 {
		t.Errorf("Revision after create = %d, want 1", rec.Revision)
	}
	if err := s.CreateZone(zone("web1")); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v, want ErrAlreadyExists", err)
	}
	if err := s.CreateZone(zone("Bad_Name")); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("create with bad name: %v, want ErrInvalid", err)
	}
	got, err := s.GetZone("web1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "web1.example.net" || got.Resources.MemoryBytes != 512<<20 || !got.CreatedAt.Equal(rec.CreatedAt) || got.Revision != 1 {
		t.Errorf("GetZone = %+v", got)
	}
	if _, err := s.GetZone("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetZone(nope): %v, want ErrNotFound", err)
	}

	upd, err := s.UpdateZone("web1", func(r *ZoneRecord) error {
		r.State = api.StateStopped
		r.Name = "renamed" // must be ignored
		r.Revision = 99    // must be ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.State != api.StateStopped || upd.Name != "web1" || upd.Revision != 2 {
		t.Errorf("UpdateZone returned %+v", upd)
	}
	if got, _ := s.GetZone("web1"); got.State != api.StateStopped || got.Revision != 2 {
		t.Errorf("after update GetZone = %+v", got)
	}
	if _, err := s.UpdateZone("nope", func(*ZoneRecord) error { return nil }); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("UpdateZone(nope): %v, want ErrNotFound", err)
	}

	for _, n := range []string{"db2", "app3"} {
		if err := s.CreateZone(zone(n)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListZones()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	if fmt.Sprint(names) != "[app3 db2 web1]" {
		t.Errorf("ListZones names = %v", names)
	}

	if err := s.DeleteZone("db2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteZone("db2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if _, err := s.GetZone("db2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetZone after delete: %v", err)
	}
}

func TestUpdateZoneErrorLeavesRecord(t *testing.T) {
	s := openTemp(t)
	if err := s.CreateZone(zone("web1")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := s.UpdateZone("web1", func(r *ZoneRecord) error {
		r.State = api.StateRunning
		r.InitPID = 1234
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateZone: %v, want boom", err)
	}
	got, err := s.GetZone("web1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != api.StateCreating || got.InitPID != 0 || got.Revision != 1 {
		t.Errorf("record changed by failed update: %+v", got)
	}
}

func TestConcurrentUpdateZone(t *testing.T) {
	s := openTemp(t)
	if err := s.CreateZone(zone("web1")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				// Read-modify-write of a counter: lost updates would show.
				_, err := s.UpdateZone("web1", func(r *ZoneRecord) error {
					r.InitPID++
					return nil
				})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetZone("web1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != 1+workers*each || got.InitPID != workers*each {
		t.Errorf("after %d updates: Revision %d, counter %d", workers*each, got.Revision, got.InitPID)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zoned.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateZone(zone("web1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTemplate(&TemplateRecord{Name: "bookworm", Source: "debootstrap", State: TemplateReady}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if z, err := s.GetZone("web1"); err != nil || z.UUID != "uuid-web1" {
		t.Errorf("zone after reopen: %+v, %v", z, err)
	}
	if tpl, err := s.GetTemplate("bookworm"); err != nil || tpl.Source != "debootstrap" {
		t.Errorf("template after reopen: %+v, %v", tpl, err)
	}
}

func TestSecondOpenIsUnavailable(t *testing.T) {
	s := openTemp(t)
	start := time.Now()
	s2, err := Open(s.Path())
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held store succeeded")
	}
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("second Open: %v, want ErrUnavailable", err)
	}
	t.Logf("second Open failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func readVersion(t *testing.T, path string) uint64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	err = db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if root == nil || root.Get(keyVersion) == nil {
			return errors.New("no v1/version key")
		}
		v = binary.BigEndian.Uint64(root.Get(keyVersion))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaVersionWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zoned.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if v := readVersion(t, path); v != uint64(schemaVersion()) {
		t.Errorf("version = %d, want %d", v, schemaVersion())
	}
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "zoned.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateZone(zone("web1")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A fake version 2 that upper-cases every hostname.
	runs := 0
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = []migration{{
		version: baseVersion + 1,
		name:    "test: rewrite hostnames",
		migrate: func(tx *bolt.Tx) error {
			runs++
			return zoneKind.each(tx, func(k []byte, rec *ZoneRecord) error {
				rec.Hostname = "MIGRATED"
				return zoneKind.put(tx, string(k), rec)
			})
		},
	}}
	for range 2 { // the second open must not run it again
		s, err = Open(path)
		if err != nil {
			t.Fatal(err)
		}
		z, err := s.GetZone("web1")
		if err != nil {
			t.Fatal(err)
		}
		if z.Hostname != "MIGRATED" {
			t.Errorf("hostname after migration = %q", z.Hostname)
		}
		s.Close()
	}
	if runs != 1 {
		t.Errorf("migration ran %d times, want 1", runs)
	}
	if v := readVersion(t, path); v != baseVersion+1 {
		t.Errorf("version after migration = %d, want %d", v, baseVersion+1)
	}

	// A failing migration leaves the file at its old version.
	migrations = append(migrations, migration{version: baseVersion + 2, name: "test: fails",
		migrate: func(*bolt.Tx) error { return errors.New("nope") }})
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open with failing migration succeeded")
	}
	if v := readVersion(t, path); v != baseVersion+1 {
		t.Errorf("version after failed migration = %d, want %d", v, baseVersion+1)
	}

	// An older zoned refuses a file a newer one wrote.
	migrations = nil
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	} else {
		t.Logf("older build: %v", err)
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := openTemp(t)
	limit := int64(256 << 20)
	rec := zone("web1")
	rec.Spec = &specs.Spec{
		Version:  specs.Version,
		Hostname: "web1",
		Process:  &specs.Process{Args: []string{"/sbin/init"}, Env: []string{"container=zoned"}},
		Root:     &specs.Root{Path: "/var/lib/zoned/zones/web1/rootfs"},
		Mounts:   []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			CgroupsPath: "/zoned/web1",
			Resources:   &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}},
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}},
		},
	}
	if err := s.CreateZone(rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetZone("web1")
	if err != nil {
		t.Fatal(err)
	}
	sp := got.Spec
	if sp == nil || sp.Process.Args[0] != "/sbin/init" || sp.Linux.CgroupsPath != "/zoned/web1" ||
		*sp.Linux.Resources.Memory.Limit != limit || len(sp.Linux.Namespaces) != 2 || sp.Mounts[0].Type != "proc" {
		t.Errorf("spec did not round-trip: %+v", sp)
	}
}

func TestTemplates(t *testing.T) {
	s := openTemp(t)
	tpl := &TemplateRecord{Name: "bookworm", Source: "debootstrap", Suite: "bookworm",
		Include: []string{"systemd-sysv"}, Init: "/sbin/init", State: TemplateBuilding}
	if err := s.CreateTemplate(tpl); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTemplate(tpl); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	if err := s.CreateTemplate(&TemplateRecord{Name: "../etc"}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := s.UpdateTemplate("bookworm", func(r *TemplateRecord) error { return errors.New("x") }); err == nil {
		t.Error("failing UpdateTemplate succeeded")
	}
	upd, err := s.UpdateTemplate("bookworm", func(r *TemplateRecord) error {
		r.State = TemplateReady
		r.SizeBytes = 200 << 20
		return nil
	})
	if err != nil || upd.State != TemplateReady {
		t.Fatalf("UpdateTemplate: %+v, %v", upd, err)
	}
	if _, err := s.UpdateTemplate("nope", func(*TemplateRecord) error { return nil }); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("UpdateTemplate(nope): %v", err)
	}
	if err := s.CreateTemplate(&TemplateRecord{Name: "alpine", Source: "tar"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListTemplates()
	if err != nil || len(list) != 2 || list[0].Name != "alpine" || list[1].SizeBytes != 200<<20 || list[1].Include[0] != "systemd-sysv" {
		t.Errorf("ListTemplates = %+v, %v", list, err)
	}

	for _, z := range []*ZoneRecord{zone("web1"), zone("db1"), {Name: "other", Template: "alpine"}} {
		if err := s.CreateZone(z); err != nil {
			t.Fatal(err)
		}
	}
	users, err := s.ZonesUsingTemplate("bookworm")
	if err != nil || fmt.Sprint(users) != "[db1 web1]" {
		t.Errorf("ZonesUsingTemplate = %v, %v", users, err)
	}
	if users, _ := s.ZonesUsingTemplate("none"); len(users) != 0 {
		t.Errorf("ZonesUsingTemplate(none) = %v", users)
	}

	if err := s.DeleteTemplate("alpine"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTemplate("alpine"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, err := s.GetTemplate("alpine"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetTemplate after delete: %v", err)
	}
}
