//go:build linux

package manager

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// recoverFixture lays out a data directory as a daemon leaves it, without
// root: a busybox template, zones' directories with their template and
// idmap files and their overlay layers. The test runs the same as root
// and as nobody (hack/unit-coverage.sh).
func recoverFixture(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("templates/busybox/rootfs/sbin/init", "BusyBox v1.36\n", 0o755)
	write("templates/half/.partial", "", 0o644) // no rootfs: not a template
	// web1: its own range and hostname.
	write("zones/web1/template", "busybox\n", 0o644)
	write("zones/web1/idmap", "1048576\n", 0o644)
	write("zones/web1/upper/etc/hostname", "web1.example.net\n", 0o644)
	// web2 claims web1's range: rebuilding it would share host IDs.
	write("zones/web2/template", "busybox\n", 0o644)
	write("zones/web2/idmap", "1048576\n", 0o644)
	write("zones/web2/upper/etc/hostname", "web2\n", 0o644)
	// A directory zoned did not make.
	write("zones/stray/notes.txt", "hello\n", 0o644)
	// db1's template is gone: rebuilt, but it says it cannot start.
	write("zones/db1/template", "bookworm\n", 0o644)
	write("zones/db1/idmap", "1114112\n", 0o644)
	write("zones/db1/upper/.keep", "", 0o644)
	return Config{
		DataDir:      dir,
		CgroupParent: "/zoned-unit-test-no-such-parent",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestRecoverRebuildsZoneRecordsFromDisk(t *testing.T) {
	cfg := recoverFixture(t)
	// A record whose zone is gone stays, with advice.
	st, err := store.Open(filepath.Join(cfg.DataDir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateZone(&store.ZoneRecord{Name: "gone", Template: "busybox", State: api.StateStopped}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var out bytes.Buffer
	if err := Recover(cfg, RecoverOptions{Out: &out}); err != nil {
		t.Fatalf("Recover: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"template busybox: record rebuilt",
		"zone web1: record rebuilt (template busybox, pool default, host IDs 1048576-1114111, hostname web1.example.net, stopped)",
		"zone web2: NOT rebuilt: its host IDs 1048576-1114111 overlap those of zone web1",
		"zone stray: NOT rebuilt",
		"zone db1: its template bookworm is missing",
		"zone gone: has a record but no directory",
		"done: 2 zone records rebuilt",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}

	st, err = store.Open(filepath.Join(cfg.DataDir, "zoned.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	web1, err := st.GetZone("web1")
	if err != nil {
		t.Fatal(err)
	}
	if web1.Template != "busybox" || web1.Hostname != "web1.example.net" || web1.IDMapBase != 1048576 || web1.IDMapSize != IDMapSize ||
		web1.State != api.StateStopped || web1.Privileged || web1.Spec == nil || web1.CgroupPath != cfg.CgroupParent+"/web1" {
		t.Errorf("web1 rebuilt as %+v", web1)
	}
	if web1.Spec.Annotations[initKindAnnotation] == "" {
		t.Errorf("web1's spec does not say its init: %v", web1.Spec.Annotations)
	}
	for _, name := range []string{"web2", "stray"} {
		if _, err := st.GetZone(name); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("zone %s: %v, want no record", name, err)
		}
	}
	if tm, err := st.GetTemplate("busybox"); err != nil || tm.Source != "builtin" || tm.State != templateReady {
		t.Errorf("template busybox: %+v, %v", tm, err)
	}
	if _, err := st.GetTemplate("half"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("half-built template got a record: %v", err)
	}

	// A second run finds nothing to do and changes nothing.
	st.Close()
	out.Reset()
	if err := Recover(cfg, RecoverOptions{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "done: 0 zone records rebuilt, 0 updated") {
		t.Errorf("second run:\n%s", out.String())
	}
}

func TestRecoverFromBackup(t *testing.T) {
	cfg := recoverFixture(t)
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// No backup yet: a clear not-found that names the other way.
	err := Recover(cfg, RecoverOptions{FromBackup: true, Out: &out})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "without -from-backup") {
		t.Fatalf("recover from no backup: %v", err)
	}

	st, err := store.Open(cfg.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateZone(&store.ZoneRecord{Name: "web1", Template: "busybox", Hostname: "kept-from-backup", State: api.StateStopped, IDMapBase: 1048576, IDMapSize: IDMapSize}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Backup(backupDir(cfg), 3); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// The store is lost (an empty file, as a full disk leaves it).
	if err := os.WriteFile(cfg.StorePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Recover(cfg, RecoverOptions{FromBackup: true, Out: &out}); err != nil {
		t.Fatalf("Recover: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "restored "+cfg.StorePath+" from backup") {
		t.Errorf("report:\n%s", out.String())
	}
	st, err = store.Open(cfg.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The backup's record wins over what the disk would say.
	if z, err := st.GetZone("web1"); err != nil || z.Hostname != "kept-from-backup" {
		t.Errorf("web1 after restore: %+v, %v", z, err)
	}
	if _, err := st.GetZone("db1"); err != nil {
		t.Errorf("db1 not rebuilt beside the restored records: %v", err)
	}
}

func TestRecoverRefusesMissingDataDir(t *testing.T) {
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "nope"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := Recover(cfg, RecoverOptions{}); err == nil {
		t.Fatal("recover of a missing data directory made one")
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory appeared: %v", err)
	}
}
