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

func mountRoot(t *testing.T, s *Storage, zone, template string) string {
	t.Helper()
	m := zv(s, zone).RootMount(template)
	if m.Type != "overlay" || m.Destination != s.ZoneRootPath(zone) {
		t.Fatalf("unexpected mount %+v", m)
	}
	if err := unix.Mount(m.Source, m.Destination, m.Type, 0, strings.Join(m.Options, ",")); err != nil {
		t.Fatalf("mount overlay with %v: %v", m.Options, err)
	}
	t.Cleanup(func() { unix.Unmount(m.Destination, unix.MNT_DETACH) })
	return m.Destination
}

func TestBuiltinOverlayZones(t *testing.T) {
	requireOverlay(t)
	s := newTestStorage(t)
	ctx := context.Background()
	if err := s.BuildBuiltin(ctx, "bb"); err != nil {
		t.Fatal(err)
	}
	if err := s.BuildBuiltin(ctx, "bb"); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second build: got %v, want ErrAlreadyExists", err)
	}
	if left := stagingLeft(t, s); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
	info, err := s.DetectInit("bb")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != InitBusybox || info.StopSignal != unix.SIGUSR2 || info.Path != "/bin/busybox" {
		t.Fatalf("DetectInit = %+v, want busybox at /bin/busybox with SIGUSR2", info)
	}
	size, err := s.TemplateSize("bb")
	if err != nil || size < 1<<20 {
		t.Fatalf("TemplateSize = %d, %v; want > 1 MiB (static busybox)", size, err)
	}

	if err := zvIn(t, s, "", "z1").Create("missing", quota.Limits{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("zone on missing template: got %v", err)
	}
	if _, err := os.Stat(s.ZoneDir("z1")); !os.IsNotExist(err) {
		t.Fatalf("failed create left %s", s.ZoneDir("z1"))
	}
	for _, z := range []string{"z1", "z2"} {
		if err := zvIn(t, s, "", z).Create("bb", quota.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zvIn(t, s, "", "z1").Create("bb", quota.Limits{}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Fatalf("second Create: got %v", err)
	}
	if err := zv(s, "z1").WriteFile("/etc/hostname", []byte("z1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory the template lacks, made with default attributes.
	if err := zv(s, "z1").WriteFile("/etc/zoned/id", []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}

	r1 := mountRoot(t, s, "z1", "bb")
	r2 := mountRoot(t, s, "z2", "bb")
	tmpl := s.TemplateRoot("bb")

	// The merged root looks like the template's root.
	var st1, stT unix.Stat_t
	unix.Stat(r1, &st1)
	unix.Stat(tmpl, &stT)
	if st1.Mode != stT.Mode || st1.Uid != stT.Uid {
		t.Errorf("zone root mode %o uid %d, template %o uid %d", st1.Mode, st1.Uid, stT.Mode, stT.Uid)
	}
	if b, _ := os.ReadFile(filepath.Join(r1, "etc/hostname")); string(b) != "z1\n" {
		t.Errorf("zone z1 sees hostname %q, want the one WriteZoneFile wrote", b)
	}
	if b, _ := os.ReadFile(filepath.Join(r2, "etc/hostname")); string(b) != "zone\n" {
		t.Errorf("zone z2 sees hostname %q, want the template's", b)
	}

	// A new file lands in the zone's upper dir only.
	if err := os.WriteFile(filepath.Join(r1, "root/new"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(s.ZoneDir("z1"), "upper")
	if b, err := os.ReadFile(filepath.Join(upper, "root/new")); err != nil || string(b) != "hello" {
		t.Errorf("upper has %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(tmpl, "root/new")); !os.IsNotExist(err) {
		t.Errorf("file written in zone appeared in the template: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r2, "root/new")); !os.IsNotExist(err) {
		t.Errorf("file written in z1 appeared in z2: %v", err)
	}

	// Deleting a template file in a zone leaves a whiteout and the template intact.
	if err := os.Remove(filepath.Join(r1, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	var wh unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "etc/os-release"), &wh); err != nil || wh.Mode&unix.S_IFMT != unix.S_IFCHR || wh.Rdev != 0 {
		t.Errorf("no whiteout in upper for deleted file: %v mode %o rdev %d", err, wh.Mode, wh.Rdev)
	}
	if _, err := os.Stat(filepath.Join(tmpl, "etc/os-release")); err != nil {
		t.Errorf("template lost the file a zone deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r2, "etc/os-release")); err != nil {
		t.Errorf("z2 lost the file z1 deleted: %v", err)
	}

	usage, err := zv(s, "z1").Usage()
	if err != nil || usage <= 0 || usage >= size {
		t.Errorf("Usage(z1) = %d, %v; want >0 and below the template's %d", usage, err, size)
	}

	// Mounted: deletion is refused.
	if err := zv(s, "z1").Delete(); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Delete while mounted: got %v, want ErrConflict", err)
	}
	for _, r := range []string{r1, r2} {
		if err := unix.Unmount(r, 0); err != nil {
			t.Fatal(err)
		}
	}
	// A stopped zone can be configured again, over its whiteout too.
	if err := zv(s, "z1").WriteFile("etc/os-release", []byte("ID=z1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(upper, "etc/os-release")); string(b) != "ID=z1\n" {
		t.Errorf("WriteZoneFile over a whiteout left %q", b)
	}
	for _, z := range []string{"z1", "z2"} {
		if err := zv(s, z).Delete(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(s.ZoneDir(z)); !os.IsNotExist(err) {
			t.Errorf("Delete left %s", s.ZoneDir(z))
		}
		if err := zv(s, z).Delete(); err != nil {
			t.Errorf("second Delete: %v", err)
		}
	}
	if err := s.DeleteTemplate("bb"); err != nil {
		t.Fatal(err)
	}
	if s.TemplateExists("bb") {
		t.Error("template still exists after delete")
	}
	if err := s.DeleteTemplate("bb"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second DeleteTemplate: got %v", err)
	}
	if left := stagingLeft(t, s); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
}

func TestWriteZoneFileRefusesEscapes(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	// A tiny template is enough; no overlay needed to test the upper dir.
	if err := os.MkdirAll(filepath.Join(s.TemplateRoot("t"), "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(s.TemplateRoot("t"), "varrun")); err != nil {
		t.Fatal(err)
	}
	if err := zvIn(t, s, "", "z").Create("t", quota.Limits{}); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	upper := filepath.Join(s.ZoneDir("z"), "upper")
	// What a zone could have done while running: etc -> the host's dir.
	if err := os.Symlink(outside, filepath.Join(upper, "etc")); err != nil {
		t.Fatal(err)
	}
	// And a final component that is a symlink.
	if err := os.Symlink(filepath.Join(outside, "target"), filepath.Join(upper, "hostname")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/hostname", "../x", "/a/../../x", "/", "/varrun/x"} {
		err := zv(s, "z").WriteFile(p, []byte("evil"), 0o644)
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("WriteZoneFile(%q): got %v, want ErrInvalid", p, err)
		}
	}
	// Replacing a final symlink is fine: the link is replaced, not followed.
	if err := zv(s, "z").WriteFile("/hostname", []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("write escaped the zone: %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(upper, "hostname")); string(b) != "ok" {
		t.Errorf("upper hostname = %q", b)
	}
	if err := zv(s, "z").Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestNamesValidated: template names are checked where they reach fsshare.
// Zone names are not: the manager validates them once, at its edge, and
// hands fsshare a Volume.
func TestNamesValidated(t *testing.T) {
	s := &Storage{dataDir: t.TempDir(), backend: overlayBackend{}}
	s.pools = map[string]*pool{DefaultPool: {name: DefaultPool, path: s.dataDir, backend: s.backend}}
	ctx := context.Background()
	for _, bad := range []string{"../x", "A", "", "a/b", ".staging-x"} {
		errs := map[string]error{
			"BuildBuiltin":   s.BuildBuiltin(ctx, bad),
			"Debootstrap":    s.Debootstrap(ctx, bad, DebootstrapOptions{Suite: "bookworm"}, nil),
			"ImportTar":      s.ImportTar(ctx, bad, strings.NewReader(""), nil),
			"DeleteTemplate": s.DeleteTemplate(bad),
			"CreateZoneTmpl": zvIn(t, s, "", "z").Create(bad, quota.Limits{}),
		}
		_, errs["TemplateSize"] = s.TemplateSize(bad)
		_, errs["DetectInit"] = s.DetectInit(bad)
		for fn, err := range errs {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("%s(%q): got %v, want ErrInvalid", fn, bad, err)
			}
		}
		if s.TemplateExists(bad) {
			t.Errorf("TemplateExists(%q) = true", bad)
		}
	}
}
