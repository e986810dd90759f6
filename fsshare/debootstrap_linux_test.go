package fsshare

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestDebootstrapProgressMonotonic(t *testing.T) {
	lines := []string{
		"I: Retrieving InRelease", "I: Checking Release signature", "I: Retrieving Packages",
		"I: Validating Packages", "I: Resolving dependencies of required packages...",
		"I: Retrieving adduser 3.134", "I: Validating adduser 3.134", "I: Retrieving apt 2.6.1",
		"I: Extracting adduser...", "I: Installing core packages...", "I: Unpacking required packages...",
		"I: Unpacking libc6:amd64...", "I: Configuring required packages...", "I: Configuring libc6:amd64...",
		"I: Unpacking the base system...", "I: Unpacking apt...", "I: Configuring the base system...",
		"I: Configuring apt...", "W: something odd", "I: Base system installed successfully.",
	}
	var p debootstrapProgress
	last := 0
	for _, l := range lines {
		pc, msg, ok := p.line(l)
		if !ok {
			continue
		}
		if pc < last || pc > 100 {
			t.Fatalf("line %q: progress %d after %d", l, pc, last)
		}
		if msg == "" {
			t.Fatalf("line %q: no message", l)
		}
		last = pc
	}
	if last != 90 {
		t.Fatalf("progress at the end of debootstrap = %d, want 90", last)
	}
}

func TestDebootstrapOptions(t *testing.T) {
	for _, o := range []DebootstrapOptions{
		{Suite: "--foo"}, {Suite: "bookworm", Include: []string{"--root=/"}},
		{Suite: "bookworm", Mirror: "ftp://x"}, {Suite: "bookworm", Variant: "weird"},
	} {
		if err := o.normalize(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	a := DebootstrapOptions{Suite: "bookworm", Include: []string{"dbus", "systemd-sysv", "dbus"}, Mirror: "http://m/debian"}
	b := DebootstrapOptions{Suite: "bookworm", Include: []string{"systemd-sysv", "dbus"}, Mirror: "http://m/debian"}
	if err := a.normalize(); err != nil {
		t.Fatal(err)
	}
	if err := b.normalize(); err != nil {
		t.Fatal(err)
	}
	if a.Variant != "minbase" || a.cacheKey() != b.cacheKey() {
		t.Fatalf("same packages in another order must share a cache: %s vs %s", a.cacheKey(), b.cacheKey())
	}
}

// TestDebootstrap builds a real Debian systemd template (about 100 MB of
// downloads), then builds it again from the cache.
func TestDebootstrap(t *testing.T) {
	if os.Getenv("ZONED_TEST_DEBOOTSTRAP") != "1" {
		t.Skip("set ZONED_TEST_DEBOOTSTRAP=1 to run: downloads about 100 MB from the Debian mirror")
	}
	requireRoot(t)
	s := newTestStorage(t)
	ctx := context.Background()
	opts := DebootstrapOptions{Suite: "bookworm", Include: []string{"systemd-sysv", "dbus"}}
	last := -1
	progress := func(pc int, msg string) {
		if pc < last {
			t.Errorf("progress went back from %d to %d (%s)", last, pc, msg)
		}
		last = pc
	}
	o := opts
	o.normalize()
	cache := filepath.Join(s.debootstrapCache(), o.cacheKey())
	_, statErr := os.Stat(cache)
	start := time.Now()
	if err := s.Debootstrap(ctx, "deb", opts, progress); err != nil {
		t.Fatal(err)
	}
	t.Logf("first build took %s (cache present before: %v)", time.Since(start), statErr == nil)
	if last != 100 {
		t.Errorf("final progress %d, want 100", last)
	}
	info, err := s.DetectInit("deb")
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != InitSystemd || info.StopSignal != SignalSystemdHalt {
		t.Fatalf("DetectInit = %+v, want systemd", info)
	}
	t.Logf("init: %+v", info)
	root := s.TemplateRoot("deb")
	if fi, err := os.Lstat(filepath.Join(root, "etc/resolv.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("resolv.conf: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil || fi.Size() != 0 {
		t.Errorf("machine-id not empty: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/systemd/system/systemd-udevd.service")); err != nil || l != "/dev/null" {
		t.Errorf("udevd not masked: %q %v", l, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "dev")); len(entries) != 0 {
		t.Errorf("/dev not empty in the template: %d entries", len(entries))
	}
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache written: %v", err)
	}
	size, _ := s.TemplateSize("deb")
	t.Logf("template size %d MiB", size>>20)

	start = time.Now()
	if err := s.Debootstrap(ctx, "deb2", opts, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("build from cache took %s", time.Since(start))
	size2, _ := s.TemplateSize("deb2")
	if size2 < size*9/10 || size2 > size*11/10 {
		t.Errorf("cached build is %d bytes, first %d", size2, size)
	}
	if info2, err := s.DetectInit("deb2"); err != nil || info2 != info {
		t.Errorf("cached build init %+v %v, want %+v", info2, err, info)
	}
	for _, n := range []string{"deb", "deb2"} {
		if err := s.DeleteTemplate(n); err != nil {
			t.Fatal(err)
		}
	}
	if left := stagingLeft(t, s); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
}

// TestDebootstrapCache restores a template from a cached root without
// running debootstrap, and throws a corrupt cache away.
func TestDebootstrapCache(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skip("needs debootstrap installed (the corrupt-cache case runs it against a missing mirror)")
	}
	s := newTestStorage(t)
	s.SetCacheDir(t.TempDir())
	ctx := context.Background()
	// A missing mirror: any attempt to really bootstrap fails at once.
	opts := DebootstrapOptions{Suite: "bookworm", Mirror: "file:///nonexistent-zoned-mirror", Include: []string{"dbus"}}
	key := opts
	if err := key.normalize(); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(s.debootstrapCache(), key.cacheKey())

	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sbin"), 0o755)
	os.WriteFile(filepath.Join(src, "sbin/init"), []byte("BusyBox v1"), 0o755)
	if err := writeCache(ctx, src, cache); err != nil {
		t.Fatal(err)
	}
	if err := s.Debootstrap(ctx, "cached", opts, nil); err != nil {
		t.Fatalf("restore from cache: %v", err)
	}
	if info, err := s.DetectInit("cached"); err != nil || info.Kind != InitBusybox {
		t.Fatalf("restored template init %+v, %v", info, err)
	}

	b, _ := os.ReadFile(cache)
	if err := os.WriteFile(cache, b[:len(b)-8], 0o600); err != nil {
		t.Fatal(err)
	}
	err := s.Debootstrap(ctx, "broken", opts, nil)
	if err == nil {
		t.Fatal("a corrupt cache and a missing mirror built a template")
	}
	t.Logf("%.300v", err)
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("corrupt cache kept: %v", err)
	}
	if s.TemplateExists("broken") || len(stagingLeft(t, s)) > 0 {
		t.Error("failed build left a template or staging dir")
	}
	if err := s.DeleteTemplate("cached"); err != nil {
		t.Fatal(err)
	}
}
