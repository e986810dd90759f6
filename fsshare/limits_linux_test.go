package fsshare

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

// bombTar streams a tar of a bootable root plus files MiB of zeros, each
// of 1 MiB, into w: compressed, a few KB that unpack to far more.
func bombTar(t *testing.T, w io.Writer, files int) {
	t.Helper()
	tw := tar.NewWriter(w)
	add := func(name string, size int64, body io.Reader) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: size, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(tw, body, size); err != nil {
			t.Fatal(err)
		}
	}
	add("sbin/init", 2, strings.NewReader("x\n"))
	zero := bytes.NewReader(make([]byte, 1<<20))
	for i := range files {
		zero.Seek(0, io.SeekStart)
		add(fmt.Sprintf("zero/%d", i), 1<<20, zero)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportTarBomb: a gzip or zstd archive of a few KB that unpacks to
// 64 MiB is refused at the host's cap (here 16 MiB) with ErrInvalid, and
// leaves no template and no staging dir; so is one with more entries
// than the cap.
func TestImportTarBomb(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	s.SetImportLimits(ImportLimits{MaxBytes: 16 << 20, MaxEntries: 1000, BytesFrom: HostBytesFrom, EntriesFrom: HostEntriesFrom})
	var raw bytes.Buffer
	bombTar(t, &raw, 64)
	many := []entry{{name: "sbin/init", typ: tar.TypeReg, mode: 0o755, body: "x"}}
	for i := range 1500 {
		many = append(many, entry{name: fmt.Sprintf("e/%d", i), typ: tar.TypeReg})
	}
	// Names may be long (an export of a deep tree), but their bytes past
	// PATH_MAX count against the byte cap: 100 names of 200 KB each.
	long := []entry{{name: "sbin/init", typ: tar.TypeReg, mode: 0o755, body: "x"}}
	for i := range 100 {
		long = append(long, entry{name: fmt.Sprintf("%s/%d", strings.Repeat(strings.Repeat("n", 249)+"/", 800), i), typ: tar.TypeReg})
	}
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"long-names", "unpacks to more than 16MiB", zst(t, makeTar(t, long))},
		{"gzip", "unpacks to more than 16MiB", gz(t, raw.Bytes())},
		{"zstd", "unpacks to more than 16MiB", zst(t, raw.Bytes())},
		{"entries", "more than 1000 entries", zst(t, makeTar(t, many))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.data) > 256<<10 {
				t.Fatalf("bomb is %d bytes compressed; not a bomb", len(c.data))
			}
			err := s.ImportTar(context.Background(), "bomb", bytes.NewReader(c.data), nil)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-import-max-") {
				t.Fatalf("got %v, want ErrInvalid saying %q and naming the flag", err, c.want)
			}
			t.Logf("%d bytes: %v", len(c.data), err)
			if s.TemplateExists("bomb") || len(stagingLeft(t, s)) > 0 {
				t.Error("template or staging left after a bomb")
			}
		})
	}
	// Under the cap the same kind of archive imports.
	var small bytes.Buffer
	bombTar(t, &small, 8)
	if err := s.ImportTar(context.Background(), "fits", bytes.NewReader(zst(t, small.Bytes())), nil); err != nil {
		t.Fatalf("8 MiB under a 16 MiB cap: %v", err)
	}
	if err := s.DeleteTemplate("fits"); err != nil {
		t.Fatal(err)
	}
}

// TestZoneImportLimits: a zone's disk quota lowers the host's caps, never
// raises them, and an unprivileged zone's owners are bounded.
func TestZoneImportLimits(t *testing.T) {
	s := &Storage{limits: ImportLimits{MaxBytes: 100, MaxEntries: 10, BytesFrom: HostBytesFrom, EntriesFrom: HostEntriesFrom}}
	for _, c := range []struct {
		bytes, inodes int64
		ids           int
		want          ImportLimits
	}{
		{0, 0, 0, ImportLimits{MaxBytes: 100, MaxEntries: 10}},
		{50, 5, 65536, ImportLimits{MaxBytes: 50, MaxEntries: 5, MaxID: 65536}},
		{500, 50, 0, ImportLimits{MaxBytes: 100, MaxEntries: 10}},
	} {
		got := s.ZoneImportLimits(c.bytes, c.inodes, c.ids)
		if got.MaxBytes != c.want.MaxBytes || got.MaxEntries != c.want.MaxEntries || got.MaxID != c.want.MaxID {
			t.Errorf("ZoneImportLimits(%d, %d, %d) = %+v, want %+v", c.bytes, c.inodes, c.ids, got, c.want)
		}
	}
}

// TestExtractorOwnerBound: with MaxID set, an owner beyond it is refused
// naming the privileged field, before anything is written.
func TestExtractorOwnerBound(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	x, err := newExtractor(root, ImportLimits{MaxID: 65536})
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	if err := x.entry(&tar.Header{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 65535, Gid: 0}, strings.NewReader("")); err != nil {
		t.Fatalf("owner 65535: %v", err)
	}
	err = x.entry(&tar.Header{Name: "other-zone", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 0, Gid: 65536}, strings.NewReader(""))
	if !errors.Is(err, errdefs.ErrInvalid) || errdefs.Field(err) != "privileged" {
		t.Fatalf("owner 0:65536: %v (field %q)", err, errdefs.Field(err))
	}
}
