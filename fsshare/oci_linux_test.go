package fsshare

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/testfs"
)

// tarDir archives a directory of plain files as docker save would.
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var es []entry
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		es = append(es, entry{name: rel, typ: tar.TypeReg, body: string(b)})
		return nil
	})
	return makeTar(t, es)
}

// listTree lists the root's entries as "path type", for comparing.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." {
			out = append(out, rel+" "+d.Type().String())
		}
		return nil
	})
	sort.Strings(out)
	return out
}

var ociBase = []entry{
	{name: "sbin/init", typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\necho INIT_VERSION\n"},
	{name: "etc/a", typ: tar.TypeReg, body: "a"},
	{name: "etc/b/", typ: tar.TypeDir, mode: 0o755},
	{name: "etc/b/inner", typ: tar.TypeReg, body: "inner"},
	{name: "d/x", typ: tar.TypeReg, body: "x"},
	{name: "d/y", typ: tar.TypeReg, body: "y"},
}

var ociTop = []entry{
	{name: "etc/.wh.a", typ: tar.TypeReg},
	// A file replaces a lower layer's directory, contents and all.
	{name: "etc/b", typ: tar.TypeReg, body: "now a file"},
	// An entry of this layer before the opaque marker stays.
	{name: "d/z", typ: tar.TypeReg, body: "z"},
	{name: "d/.wh..wh..opq", typ: tar.TypeReg},
}

var ociWant = []string{"d d---------", "d/z ----------", "etc d---------", "etc/b ----------", "etc/c ----------", "sbin d---------", "sbin/init ----------"}

func TestImportOCI(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	ctx := context.Background()
	layers := [][]byte{makeTar(t, ociBase), gz(t, makeTar(t, ociTop)), zst(t, makeTar(t, []entry{{name: "etc/c", typ: tar.TypeReg, body: "c"}}))}

	layout := t.TempDir()
	testfs.OCILayout(t, layout, layers)
	var pcts []int
	if err := s.ImportOCI(ctx, "oci-dir", layout, func(p int, _ string) { pcts = append(pcts, p) }); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, s.TemplateRoot("oci-dir")); !slices.Equal(got, ociWant) {
		t.Fatalf("layout image tree:\n%v\nwant\n%v", got, ociWant)
	}
	if len(pcts) != 3 {
		t.Errorf("progress %v, want one report per layer", pcts)
	}

	// The same layout in a tar archive (docker save since Docker 25).
	arch := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(arch, tarDir(t, layout), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportOCI(ctx, "oci-tar", arch, nil); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, s.TemplateRoot("oci-tar")); !slices.Equal(got, ociWant) {
		t.Fatalf("archived layout tree: %v", got)
	}

	// docker save's older format: manifest.json naming layer tars.
	legacy := t.TempDir()
	var names []string
	for i, l := range layers {
		n := filepath.Join(string(rune('a'+i))+"id", "layer.tar")
		os.MkdirAll(filepath.Join(legacy, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(legacy, n), l, 0o644)
		names = append(names, n)
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": []string{"x:latest"}, "Layers": names}})
	os.WriteFile(filepath.Join(legacy, "manifest.json"), mj, 0o644)
	arch2 := filepath.Join(t.TempDir(), "legacy.tar")
	os.WriteFile(arch2, tarDir(t, legacy), 0o644)
	if err := s.ImportOCI(ctx, "docker-legacy", arch2, nil); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, s.TemplateRoot("docker-legacy")); !slices.Equal(got, ociWant) {
		t.Fatalf("docker save tree: %v", got)
	}
}

func TestImportOCIRejects(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	outside := t.TempDir()
	base := makeTar(t, ociBase)
	cases := map[string]func(dir string) string{
		"altered-layer": func(dir string) string {
			ds := testfs.OCILayout(t, dir, [][]byte{base})
			p := filepath.Join(dir, "blobs", "sha256", ds[0].Encoded())
			b, _ := os.ReadFile(p)
			b[600] ^= 1 // inside etc/a's... header area of the next entry
			os.WriteFile(p, b, 0o644)
			return dir
		},
		"truncated-archive": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{gz(t, base)})
			b := tarDir(t, dir)
			p := filepath.Join(t.TempDir(), "cut.tar")
			os.WriteFile(p, b[:len(b)-3000], 0o644)
			return p
		},
		"device-node": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{base, makeTar(t, []entry{{name: "dev/mem", typ: tar.TypeChar, mode: 0o666}})})
			return dir
		},
		"tar-slip": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{base, makeTar(t, []entry{{name: "../../../../" + outside + "/evil", typ: tar.TypeReg, body: "x"}})})
			return dir
		},
		"write-through-symlink": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{makeTar(t, append(ociBase, entry{name: "l", typ: tar.TypeSymlink, link: outside})),
				makeTar(t, []entry{{name: "l/evil", typ: tar.TypeReg, body: "x"}})})
			return dir
		},
		"whiteout-through-symlink": func(dir string) string {
			os.WriteFile(filepath.Join(outside, "keep"), []byte("k"), 0o644)
			testfs.OCILayout(t, dir, [][]byte{makeTar(t, append(ociBase, entry{name: "l", typ: tar.TypeSymlink, link: outside})),
				makeTar(t, []entry{{name: "l/.wh.keep", typ: tar.TypeReg}})})
			return dir
		},
		"whiteout-dot": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{base, makeTar(t, []entry{{name: "etc/.wh..", typ: tar.TypeReg}})})
			return dir
		},
		"blob-path-escape": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{base})
			os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":1}]}`), 0o644)
			return dir
		},
		"not-an-image": func(dir string) string { return dir },
		"no-init": func(dir string) string {
			testfs.OCILayout(t, dir, [][]byte{makeTar(t, []entry{{name: "etc/a", typ: tar.TypeReg, body: "a"}})})
			return dir
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			src := mk(t.TempDir())
			err := s.ImportOCI(context.Background(), "bad", src, nil)
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			t.Log(err)
			if s.TemplateExists("bad") || len(stagingLeft(t, s)) > 0 {
				t.Fatal("template or staging left")
			}
			if b, err := os.ReadFile(filepath.Join(outside, "keep")); name == "whiteout-through-symlink" && (err != nil || string(b) != "k") {
				t.Fatalf("whiteout reached outside: %v", err)
			}
			if es, _ := os.ReadDir(outside); len(es) > 1 || len(es) == 1 && es[0].Name() != "keep" {
				t.Fatalf("image wrote outside the root: %v", es)
			}
		})
	}
}

func TestImportDir(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	src := t.TempDir()
	root := filepath.Join(src, "root")
	if err := s.BuildBuiltin(context.Background(), "bb"); err != nil {
		t.Fatal(err)
	}
	if err := copyTree(s.TemplateRoot("bb"), mkdir(t, root)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc", "owned"), []byte("o"), 0o640)
	os.Chown(filepath.Join(root, "etc", "owned"), 1000, 1001)
	if err := unix.Setxattr(filepath.Join(root, "etc", "owned"), "user.zoned", []byte("v"), 0); err != nil {
		t.Logf("no user xattrs on %s: %v", root, err)
	}
	if err := s.ImportDir(context.Background(), "fromdir", root, nil); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(s.TemplateRoot("fromdir"), "etc", "owned")
	if uid, gid := statOwner(t, got); uid != 1000 || gid != 1001 {
		t.Fatalf("owner %d:%d", uid, gid)
	}
	if b := make([]byte, 8); true {
		if n, err := unix.Getxattr(got, "user.zoned", b); err == nil && string(b[:n]) != "v" {
			t.Fatalf("xattr %q", b[:n])
		}
	}
	if !slices.Equal(listTree(t, root), listTree(t, s.TemplateRoot("fromdir"))) {
		t.Fatal("trees differ")
	}
	// Refusals leave nothing.
	if err := unix.Mknod(filepath.Join(root, "dev-null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, "relative/dir", filepath.Join(src, "missing")} {
		err := s.ImportDir(context.Background(), "bad", dir, nil)
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("ImportDir(%s) = %v, want ErrInvalid", dir, err)
		}
		t.Log(err)
		if s.TemplateExists("bad") || len(stagingLeft(t, s)) > 0 {
			t.Fatal("template or staging left")
		}
	}
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func statOwner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}
