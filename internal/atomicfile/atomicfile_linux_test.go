package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/testfs"
)

func TestWriteFileReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.json")
	for _, s := range []string{"one", "two"} {
		if err := WriteFile(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != s {
			t.Fatalf("read %q %v, want %q", b, err, s)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	assertOnly(t, filepath.Dir(p), "a.json")
}

// TestWriteFileOnFullDiskLeavesNothing fills a real tmpfs: the write
// fails with ENOSPC (classified insufficient storage), the old file is
// intact and no temporary file is left.
func TestWriteFileOnFullDiskLeavesNothing(t *testing.T) {
	dir := testfs.Tmpfs(t, 1, 0)
	p := filepath.Join(dir, "zone.json")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	free := testfs.FillBlocks(t, dir)
	defer free()
	err := WriteFile(p, make([]byte, 64<<10), 0o644)
	if err == nil {
		t.Fatal("write on a full filesystem succeeded")
	}
	if errdefs.Code(err) != "insufficient_storage" {
		t.Errorf("error %v is %q, want insufficient_storage", err, errdefs.Code(err))
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("old content is now %q", b)
	}
	assertOnly(t, dir, "filler", "zone.json")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
	for i := range names {
		if got[i] != names[i] {
			t.Fatalf("%s holds %v, want %v", dir, got, names)
		}
	}
}
