//go:build linux

package integration

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

// TestImportGrantsOnlyTheRequest: an archive whose configuration (and
// self-made manifest) says privileged, tun and fuse, no limits, another
// tenant's labels and autostart makes a zone with none of them: it is
// unprivileged, has only the devices, limits and labels the import request
// grants, and the operator is told what was dropped. An archive whose
// owners do not fit an unprivileged zone is refused, naming privileged,
// and leaves nothing; granted privileged, it imports as it is.
func TestImportGrantsOnlyTheRequest(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	// A privileged zone is what a hostile archive claims to be: its
	// archive is exactly what a customer could hand in.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{
		Name: "evil", Template: "busybox", Privileged: true, Devices: []string{"tun", "fuse"},
		Labels: map[string]string{"customer": "other-tenant"}, Autostart: true, AutostartPriority: 1000,
	}); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(d.dataDir, "zones", "evil", "upper")
	suid := filepath.Join(upper, "root", "suid")
	if err := os.MkdirAll(filepath.Dir(suid), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(suid, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	arc := filepath.Join(dir, "evil.zoned")
	if _, stderr, code := d.zonectl("", "export", "evil", arc); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	cfg := archiveConfig(t, arc)
	if cfg["privileged"] != true || cfg["devices"] == nil || cfg["labels"] == nil {
		t.Fatalf("archive does not ask for privilege, devices and labels: %v", cfg)
	}

	_, stderr, code := d.zonectl("", "import", arc, "--name", "imp", "--memory", "256M", "--pids", "100", "--device", "fuse", "--label", "customer=c2")
	if code != 0 {
		t.Fatalf("import: %s\n%s", stderr, d.logs())
	}
	for _, w := range []string{"privileged zone; made unprivileged", "devices tun not granted", "labels customer=other-tenant", "autostart"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("no warning %q in %q", w, stderr)
		}
	}
	z, err := d.c.GetZone(ctx, "imp")
	if err != nil {
		t.Fatal(err)
	}
	want := api.Resources{MemoryBytes: 256 << 20, PidsMax: 100}
	if z.Privileged || z.IDMap == nil || len(z.Devices) != 1 || z.Devices[0] != "fuse" || z.Resources != want ||
		!maps.Equal(z.Labels, map[string]string{"customer": "c2"}) || z.Autostart || z.AutostartPriority != 0 {
		t.Fatalf("imported zone %+v", z)
	}
	// On disk the archive's root-owned set-uid file is the zone's root's.
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(d.dataDir, "zones", "imp", "upper", "root", "suid"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != z.IDMap.HostID || st.Gid != z.IDMap.HostID {
		t.Fatalf("imported file owned by host %d:%d, want the zone's %d", st.Uid, st.Gid, z.IDMap.HostID)
	}
	if _, err := d.c.StartZone(ctx, "imp"); err != nil {
		t.Fatalf("start: %v\n%s", err, d.logs())
	}
	if r := d.exec("imp", "", "test", "-e", "/dev/net/tun"); r.code == 0 {
		t.Error("imported zone has /dev/net/tun, which was not granted")
	}
	if got := d.mustExec("imp", "cat", "/proc/self/uid_map"); strings.Fields(got)[1] == "0" {
		t.Errorf("imported zone's root is host root: uid_map %q", got)
	}

	// A grant a create would refuse is a 4xx naming the field, before
	// the archive is read.
	_, err = d.c.ImportZone(ctx, api.ImportZoneRequest{Path: arc, Name: "bad", Devices: []string{"gpu"}})
	var ce *client.Error
	if !errors.Is(err, errdefs.ErrInvalid) || !errors.As(err, &ce) || ce.Field != "devices" {
		t.Errorf("import granting device gpu: %v, want invalid naming devices", err)
	}

	// Owners beyond 65535 cannot become an unprivileged zone's.
	foreign := filepath.Join(upper, "root", "foreign")
	if err := os.WriteFile(foreign, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 100000, 100000); err != nil {
		t.Fatal(err)
	}
	arc2 := filepath.Join(dir, "evil2.zoned")
	if _, stderr, code := d.zonectl("", "export", "evil", arc2); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	if _, stderr, code := d.zonectl("", "import", arc2, "--name", "unfit"); code == 0 || !strings.Contains(stderr, "privileged") || !strings.Contains(stderr, "100000") {
		t.Fatalf("import of foreign owners unprivileged: exit %d, %s", code, stderr)
	}
	assertNoZone(t, d, "unfit")
	if _, stderr, code := d.zonectl("", "import", arc2, "--name", "priv", "--privileged"); code != 0 {
		t.Fatalf("import granted privileged: %s", stderr)
	}
	if z, err := d.c.GetZone(ctx, "priv"); err != nil || !z.Privileged || len(z.Devices) != 0 || len(z.Labels) != 0 {
		t.Fatalf("privileged import %+v, %v", z, err)
	}
	for _, n := range []string{"evil", "imp", "priv"} {
		if err := d.c.DestroyZone(ctx, n, true); err != nil {
			t.Fatal(err)
		}
	}
}

// archiveConfig returns the zone configuration an export archive carries.
func archiveConfig(t *testing.T, arc string) map[string]any {
	t.Helper()
	f, err := os.Open(arc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	var h struct {
		Config map[string]any `json:"config"`
	}
	if err := json.NewDecoder(tr).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Config
}

// assertNoZone checks that a failed import left no record, directory,
// template or mount of zone name.
func assertNoZone(t *testing.T, d *daemon, name string) {
	t.Helper()
	if _, err := d.c.GetZone(ctxT(t), name); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("zone %s left: %v", name, err)
	}
	if _, err := os.Lstat(filepath.Join(d.dataDir, "zones", name)); !os.IsNotExist(err) {
		t.Errorf("directory of zone %s left: %v", name, err)
	}
	if _, err := os.Lstat(filepath.Join(d.dataDir, "templates", name+"-root")); !os.IsNotExist(err) {
		t.Errorf("template %s-root left: %v", name, err)
	}
	// The daemon's own mounts (the /proc view) stay; none of the zone's.
	for _, p := range []string{filepath.Join(d.dataDir, "zones", name), filepath.Join(d.dataDir, "templates", name+"-root")} {
		if err := checkNoMountsUnder(p); err != nil {
			t.Error(err)
		}
	}
}

// bombArchive writes an export archive of kind whose data unpacks to a file
// of mib MiB of zeros but compresses to a few KB. It has no manifest: the cap
// must stop it before the manifest could.
func bombArchive(t *testing.T, path, kind string, mib int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, err := zstd.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	add := func(name string, body io.Reader, size int64) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: size, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(tw, body, size); err != nil {
			t.Fatal(err)
		}
	}
	head := fmt.Sprintf(`{"version":1,"kind":%q,"config":{"name":"bomb","template":"busybox"}}`, kind)
	add("zoned-export.json", strings.NewReader(head), int64(len(head)))
	add(kind+"/sbin/init", strings.NewReader("x"), 1)
	// One file: the cap must refuse it from its header, before a byte of
	// it is written (a disk image quota would stop it too, later).
	add(kind+"/zero", zeroReader{}, int64(mib)<<20)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportBombIsCapped: an export archive of a few KB that unpacks to
// 96 MiB, as a layer and as a whole root, stops at the host's cap
// (-import-max-bytes 48M), or at the zone's lower disk quota, with a clear
// error and leaves no zone, no zone directory, no template, no record, no
// mount and no disk image.
func TestImportBombIsCapped(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemonWith(t, []string{"-import-max-bytes", "48M"})
	ctx := ctxT(t)
	dir := t.TempDir()
	for _, kind := range []string{"layer", "rootfs"} {
		arc := filepath.Join(dir, kind+".zoned")
		bombArchive(t, arc, kind, 96)
		if fi, err := os.Stat(arc); err != nil || fi.Size() > 256<<10 {
			t.Fatalf("bomb %s: %v %v", kind, fi, err)
		}
		_, stderr, code := d.zonectl("", "import", arc)
		if code == 0 || !strings.Contains(stderr, "unpacks to more than 48MiB") || !strings.Contains(stderr, "-import-max-bytes") {
			t.Fatalf("%s bomb: exit %d, %s", kind, code, stderr)
		}
		assertNoZone(t, d, "bomb")
		if tp, err := d.c.ListTemplates(ctx); err != nil || len(tp) != 1 {
			t.Fatalf("%s bomb left templates: %+v %v", kind, tp, err)
		}
		// A zone's disk quota lowers the cap for that zone.
		_, stderr, code = d.zonectl("", "import", arc, "--disk", "32M")
		if code == 0 || !strings.Contains(stderr, "unpacks to more than 32MiB, the zone's disk quota") {
			t.Fatalf("%s bomb into a 32M zone: exit %d, %s", kind, code, stderr)
		}
		assertNoZone(t, d, "bomb")
		if l := loopsBackedBy(d.dataDir); len(l) != 0 {
			t.Errorf("loop devices left: %v", l)
		}
		if imgs, _ := filepath.Glob(filepath.Join(d.dataDir, "disks", "*")); len(imgs) != 0 {
			t.Errorf("disk images left: %v", imgs)
		}
	}
}

// TestCloneTakesNoGrantFromTheCaller: a clone is its source's config, which
// the operator made; a clone request cannot ask for more (privileged,
// devices, other limits): unknown fields are a 400 and nothing is made.
func TestCloneTakesNoGrantFromTheCaller(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "src", Template: "busybox", Resources: api.Resources{PidsMax: 64}}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"name":"c1","privileged":true}`,
		`{"name":"c1","devices":["tun"]}`,
		`{"name":"c1","resources":{}}`,
		`{"name":"c1","labels":{"customer":"x"}}`,
	} {
		resp, err := d.rawHTTP().Post("http://zoned/v1/zones/src/clone", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("clone %s: status %d, want 400", body, resp.StatusCode)
		}
		assertNoZone(t, d, "c1")
	}
	z, err := d.c.CloneZone(ctx, "src", api.CloneZoneRequest{Name: "c2"})
	if err != nil {
		t.Fatal(err)
	}
	if z.Privileged || z.IDMap == nil || len(z.Devices) != 0 || z.Resources.PidsMax != 64 {
		t.Fatalf("clone %+v", z)
	}
	for _, n := range []string{"src", "c2"} {
		if err := d.c.DestroyZone(ctx, n, true); err != nil {
			t.Fatal(err)
		}
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestImportCannotNameAnotherZonesRoot: a full import's root becomes the
// template NAME-root, that zone's customer data. A layer archive naming it
// would lay a stranger's zone over it; it is refused (field template) and
// leaves nothing, unless the operator names that template in the request.
func TestImportCannotNameAnotherZonesRoot(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	dir := t.TempDir()
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "v", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "v-full.zoned")
	if _, stderr, code := d.zonectl("", "export", "v", full, "--full"); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	if _, stderr, code := d.zonectl("", "import", full, "--name", "victim"); code != 0 {
		t.Fatalf("import full: %s", stderr)
	}
	// An archive whose configuration names victim-root, as a hostile one
	// would: made from a zone the operator laid over it.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "w", Template: "victim-root"}); err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(dir, "w.zoned")
	if _, stderr, code := d.zonectl("", "export", "w", layer); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	_, err := d.c.ImportZone(ctx, api.ImportZoneRequest{Path: layer, Name: "thief"})
	var ce *client.Error
	if !errors.Is(err, errdefs.ErrInvalid) || !errors.As(err, &ce) || ce.Field != "template" || !strings.Contains(err.Error(), "victim-root") {
		t.Fatalf("layer archive naming another zone's root: %v", err)
	}
	assertNoZone(t, d, "thief")
	if _, err := d.c.ImportZone(ctx, api.ImportZoneRequest{Path: full, Name: "x", Template: "busybox"}); !errors.As(err, &ce) || ce.Field != "template" {
		t.Fatalf("full archive with a template: %v", err)
	}
	if _, stderr, code := d.zonectl("", "import", layer, "--name", "granted", "--template", "victim-root"); code != 0 {
		t.Fatalf("import naming the template in the request: %s", stderr)
	}
	for _, n := range []string{"v", "victim", "w", "granted"} {
		if err := d.c.DestroyZone(ctx, n, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.c.DeleteTemplate(ctx, "victim-root"); err != nil {
		t.Fatal(err)
	}
}
