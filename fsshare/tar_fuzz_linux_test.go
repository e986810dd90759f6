package fsshare

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

// fuzzTar builds a tar archive from (name, type, body-or-link) triples.
func fuzzTar(entries ...[3]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e[0], Typeflag: e[1][0], Mode: 0o755}
		switch h.Typeflag {
		case tar.TypeReg:
			h.Size = int64(len(e[2]))
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = e[2]
		}
		_ = tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(e[2]))
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

// FuzzImportTar feeds arbitrary bytes to ImportTar as an untrusted
// template archive. Whatever the bytes: no panic; a failure leaves no
// template and no staging dir; and nothing is ever written outside the
// data directory (a sibling directory stays empty and the data
// directory's parent holds nothing new).
func FuzzImportTar(f *testing.F) {
	valid := fuzzTar(
		[3]string{"sbin/", "5", ""},
		[3]string{"sbin/init", "0", "#!/bin/sh\n"},
		[3]string{"etc/", "5", ""},
		[3]string{"etc/hostname", "0", "x\n"},
		[3]string{"bin/sh", "2", "/sbin/init"},
	)
	f.Add(valid)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(valid)
	zw.Close()
	f.Add(gz.Bytes())
	f.Add(fuzzTar([3]string{"../outside/evil", "0", "x"}))
	f.Add(fuzzTar([3]string{"/outside/evil", "0", "x"}))
	f.Add(fuzzTar([3]string{"link", "2", "../outside"}, [3]string{"link/evil", "0", "x"}))
	f.Add(fuzzTar([3]string{"abs", "2", "/"}, [3]string{"abs/outside/evil", "0", "x"}))
	f.Add(fuzzTar([3]string{"hard", "1", "../outside/evil"}))
	f.Add(fuzzTar([3]string{"dev", "3", ""}))
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}) // zstd magic, nothing after
	f.Fuzz(func(t *testing.T, data []byte) {
		if os.Geteuid() != 0 {
			t.Skip("needs root (ImportTar keeps owners and modes)")
		}
		parent := t.TempDir()
		outside := filepath.Join(parent, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		s, err := New(filepath.Join(parent, "data"))
		if err != nil {
			t.Fatal(err)
		}
		err = s.ImportTar(context.Background(), "fuzz", bytes.NewReader(data), nil)
		if err != nil {
			if s.TemplateExists("fuzz") {
				t.Errorf("failed import (%v) left template fuzz", err)
			}
			if !errors.Is(err, errdefs.ErrInvalid) && !strings.Contains(err.Error(), "sbin/init") {
				// Bad input must be the caller's fault, never the daemon's.
				t.Logf("import failed with an unclassified error: %v", err)
			}
		}
		if left := stagingLeft(t, s); len(left) > 0 {
			t.Errorf("staging dirs left: %v", left)
		}
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("import wrote outside the data dir: %v", entries)
		}
		_ = filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if err == nil && p != parent && p != outside && !strings.HasPrefix(p, filepath.Join(parent, "data")) {
				t.Errorf("import created %s outside the data dir", p)
			}
			return nil
		})
		if err == nil {
			if err := s.DeleteTemplate("fuzz"); err != nil {
				t.Errorf("delete imported template: %v", err)
			}
		}
	})
}
