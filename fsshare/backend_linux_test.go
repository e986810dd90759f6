package fsshare

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/quota"
)

// TestBackendsImplementEveryCapability: each registered backend is the
// driver of every job fsshare hands a backend, under the name it is
// registered as, and no name is registered twice.
func TestBackendsImplementEveryCapability(t *testing.T) {
	capabilities := []reflect.Type{
		reflect.TypeOf((*layerMaker)(nil)).Elem(),
		reflect.TypeOf((*detector)(nil)).Elem(),
		reflect.TypeOf((*snapshotter)(nil)).Elem(),
		reflect.TypeOf((*cloner)(nil)).Elem(),
		reflect.TypeOf((*exporter)(nil)).Elem(),
		reflect.TypeOf((*quotaKeeper)(nil)).Elem(),
		reflect.TypeOf((*templateKeeper)(nil)).Elem(),
	}
	// Every group layerBackend embeds is checked here.
	if n := reflect.TypeOf((*layerBackend)(nil)).Elem().NumMethod(); n != methodCount(capabilities) {
		t.Errorf("layerBackend has %d methods, the capabilities listed here %d: list the new group", n, methodCount(capabilities))
	}
	if len(backends) < 2 {
		t.Fatalf("backends = %d entries", len(backends))
	}
	seen := map[string]bool{}
	for _, e := range backends {
		if seen[e.name] {
			t.Errorf("backend %q registered twice", e.name)
		}
		seen[e.name] = true
		b := e.new()
		if b == nil {
			t.Errorf("backend %q: constructor returned nil", e.name)
			continue
		}
		if b.Name() != e.name {
			t.Errorf("backend registered as %q names itself %q", e.name, b.Name())
		}
		for _, c := range capabilities {
			if !reflect.TypeOf(b).Implements(c) {
				t.Errorf("backend %q does not implement %s", e.name, c.Name())
			}
		}
		if got := backendNamed(e.name); got == nil || got.Name() != e.name {
			t.Errorf("backendNamed(%q) = %v", e.name, got)
		}
		// Detection asks every backend: none may fail on a plain directory.
		if _, err := b.Serves(t.TempDir()); err != nil {
			t.Errorf("backend %q: Serves: %v", e.name, err)
		}
	}
}

func methodCount(ts []reflect.Type) int {
	n := 0
	for _, t := range ts {
		n += t.NumMethod()
	}
	return n
}

// TestUnknownBackendListsEveryBackend: the error refusing an unknown
// backend names each registered one, and is an ErrInvalid error.
func TestUnknownBackendListsEveryBackend(t *testing.T) {
	_, err := backendFor(t.TempDir(), "zfs-nope")
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("backendFor(unknown) = %v; want ErrInvalid", err)
	}
	for _, e := range backends {
		if !strings.Contains(err.Error(), e.name) {
			t.Errorf("error %q does not name backend %q", err, e.name)
		}
	}
	// The wording the CLI has always shown for the two built-in ones.
	if want := `backend "zfs-nope" is unknown; use overlay or btrfs`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q; want it to contain %q", err, want)
	}
}

// TestDetectPrefersPreferredBackend: a directory not on btrfs gets the
// backend that serves anywhere, and detection agrees with backendFor.
func TestDetectPrefersPreferredBackend(t *testing.T) {
	dir := t.TempDir()
	if ok, err := onBtrfs(dir); err != nil || ok {
		t.Skipf("temp dir on btrfs (%v, %v)", ok, err)
	}
	b, err := detectBackend(dir)
	if err != nil || b.Name() != BackendOverlay {
		t.Fatalf("detectBackend = %v, %v; want overlay", b, err)
	}
	if b, err := backendFor(dir, ""); err != nil || b.Name() != BackendOverlay {
		t.Fatalf("backendFor(\"\") = %v, %v; want overlay", b, err)
	}
}

// TestPoolInfoAnswersFromBackend: what callers outside fsshare ask of a
// pool comes from its backend, and an unknown backend answers nothing.
func TestPoolInfoAnswersFromBackend(t *testing.T) {
	for _, c := range []struct {
		backend        string
		layerQuota     string
		copies, needTo bool
	}{
		{BackendOverlay, "", false, true},
		{BackendBtrfs, quota.BtrfsQgroup, true, false},
		{"nope", "", false, false},
	} {
		i := PoolInfo{Name: "p", Backend: c.backend}
		if got := i.LayerQuota(); got != c.layerQuota {
			t.Errorf("%s: LayerQuota = %q; want %q", c.backend, got, c.layerQuota)
		}
		if got := i.CopiesTemplates(); got != c.copies {
			t.Errorf("%s: CopiesTemplates = %v", c.backend, got)
		}
		if got := i.FullExportNeedsStop(); got != c.needTo {
			t.Errorf("%s: FullExportNeedsStop = %v", c.backend, got)
		}
	}
}
