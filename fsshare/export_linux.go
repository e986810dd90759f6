package fsshare

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// An export archive is a zstd-compressed PAX tar:
//
//	zoned-export.json     exportHeader: format version, kind, the zone's configuration
//	layer/...             kind "layer": the zone's own layer, whiteouts as OCI .wh. entries
//	rootfs/...            kind "rootfs": the zone's whole root (--full, or any btrfs zone)
//	zoned-manifest.json   exportManifest: sha256 of every file and of the whole stream
//
// Owners are the zone's own IDs (0 is the zone's root), whatever host range
// the zone had, so the archive imports into any range. The manifest comes
// last: an archive cut short has none and is refused, and a changed byte
// anywhere changes a file's or the stream's sha256.
const (
	ExportLayer        = "layer"
	ExportRootfs       = "rootfs"
	exportHeaderName   = "zoned-export.json"
	exportManifestName = "zoned-manifest.json"
	exportVersion      = 1
	maxExportJSON      = 16 << 20
)

type exportHeader struct {
	Version int             `json:"version"`
	Kind    string          `json:"kind"`
	Config  json.RawMessage `json:"config"`
}

type exportManifest struct {
	Entries int `json:"entries"`
	// Files maps each regular file's name to the sha256 of its contents.
	Files map[string]string `json:"files"`
	// StreamSHA256 covers every entry before the manifest in order: its
	// name, type, mode, owners, size, link target, xattrs and contents.
	StreamSHA256 string `json:"stream_sha256"`
}

// streamDigest computes an exportManifest from a tar stream; export and
// import run the same code over the same entries.
type streamDigest struct {
	h hash.Hash
	m exportManifest
}

func newStreamDigest() *streamDigest {
	return &streamDigest{h: sha256.New(), m: exportManifest{Files: map[string]string{}}}
}

func (d *streamDigest) entry(hdr *tar.Header, sum []byte) {
	fmt.Fprintf(d.h, "%s\x00%c\x00%o\x00%d\x00%d\x00%d\x00%s\x00", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Size, hdr.Linkname)
	var keys []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(d.h, "%s=%s\x00", k, hdr.PAXRecords[k])
	}
	hx := hex.EncodeToString(sum)
	fmt.Fprintf(d.h, "%s\n", hx)
	if hdr.Typeflag == tar.TypeReg {
		d.m.Files[hdr.Name] = hx
	}
	d.m.Entries++
}

func (d *streamDigest) manifest() exportManifest {
	m := d.m
	m.StreamSHA256 = hex.EncodeToString(d.h.Sum(nil))
	return m
}

// Export writes the zone (of template) to w as an export archive
// carrying config, and returns the kind written. Without full an overlay
// zone's own layer is written; with full, or for a btrfs zone (whose
// snapshot does not tell its own files from the template's), the whole
// root. The caller keeps the layer from changing meanwhile; a full export
// of an overlay zone needs it stopped.
func (v *Volume) Export(ctx context.Context, template string, full bool, config []byte, w io.Writer) (string, error) {
	s, zone, p := v.s, v.zone, v.p
	layer := v.layer()
	dir := p.backend.WritableDir(layer)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("export zone %q: %w", zone, errdefs.ErrNotFound)
	}
	kind := ExportLayer
	if full || !p.backend.ExportsLayer() {
		kind = ExportRootfs
	}
	zw, err := zstd.NewWriter(w)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	// The stream is read back as it is written to compute the manifest
	// with the same code import checks it with.
	pr, pw := io.Pipe()
	tw := tar.NewWriter(io.MultiWriter(bw, pw))
	digest := newStreamDigest()
	done := make(chan error, 1)
	go func() {
		tr := tar.NewReader(pr)
		for {
			hdr, err := tr.Next()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				pr.CloseWithError(err)
				done <- err
				return
			}
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				pr.CloseWithError(err)
				done <- err
				return
			}
			digest.entry(hdr, h.Sum(nil))
		}
	}()
	err = func() error {
		head, err := json.Marshal(exportHeader{Version: exportVersion, Kind: kind, Config: config})
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: exportHeaderName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(head)), Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(head); err != nil {
			return err
		}
		opts := walkOpts{prefix: kind + "/", shift: v.idShift(), overlay: kind == ExportLayer}
		if kind == ExportLayer {
			err = walkTar(ctx, dir, tw, opts)
		} else {
			err = p.backend.ReadRoot(layer, s.poolTemplateRoot(p, template), func(root string) error {
				return walkTar(ctx, root, tw, opts)
			})
		}
		if err != nil {
			return err
		}
		return tw.Flush()
	}()
	pw.CloseWithError(err)
	if derr := <-done; err == nil {
		err = derr
	}
	if err == nil {
		// The manifest goes to the archive only, not to the digest.
		var mb []byte
		if mb, err = json.Marshal(digest.manifest()); err == nil {
			tw2 := tar.NewWriter(bw)
			if err = tw2.WriteHeader(&tar.Header{Name: exportManifestName, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(mb)), Format: tar.FormatPAX}); err == nil {
				if _, err = tw2.Write(mb); err == nil {
					err = tw2.Close()
				}
			}
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("export zone %q: %w", zone, err)
	}
	return kind, nil
}

// ExportReader reads an export archive: its header first (OpenExport),
// then its data into a template or a zone's layer.
type ExportReader struct {
	Kind   string
	Config json.RawMessage
	dec    *zstd.Decoder
	tr     *tar.Reader
	digest *streamDigest
	// Entries counts the data entries read, for progress.
	Entries int
}

// OpenExport reads the header of the export archive r.
func OpenExport(r io.Reader) (*ExportReader, error) {
	dec, err := zstd.NewReader(bufio.NewReaderSize(r, 1<<20), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("export archive: %v: %w", err, errdefs.ErrInvalid)
	}
	er := &ExportReader{dec: dec, tr: tar.NewReader(dec), digest: newStreamDigest()}
	hdr, err := er.tr.Next()
	if err != nil || hdr.Name != exportHeaderName || hdr.Size > maxExportJSON {
		dec.Close()
		return nil, fmt.Errorf("not a zoned export archive (no %s first): %v: %w", exportHeaderName, err, errdefs.ErrInvalid)
	}
	data, sum, err := readEntry(er.tr)
	if err != nil {
		dec.Close()
		return nil, err
	}
	er.digest.entry(hdr, sum)
	var h exportHeader
	if err := json.Unmarshal(data, &h); err != nil {
		dec.Close()
		return nil, fmt.Errorf("export header: %v: %w", err, errdefs.ErrInvalid)
	}
	if h.Version != exportVersion || (h.Kind != ExportLayer && h.Kind != ExportRootfs) {
		dec.Close()
		return nil, fmt.Errorf("export archive version %d kind %q is not one this zoned reads: %w", h.Version, h.Kind, errdefs.ErrInvalid)
	}
	er.Kind, er.Config = h.Kind, h.Config
	return er, nil
}

// Close releases the decompressor.
func (er *ExportReader) Close() { er.dec.Close() }

func readEntry(tr *tar.Reader) ([]byte, []byte, error) {
	data, err := io.ReadAll(io.LimitReader(tr, maxExportJSON))
	if err != nil {
		return nil, nil, fmt.Errorf("read archive: %v: %w", err, errdefs.ErrInvalid)
	}
	sum := sha256.Sum256(data)
	return data, sum[:], nil
}

// extractInto applies the archive's data entries to x and checks the
// manifest at the end; any difference, a missing manifest or anything
// after it is an ErrInvalid error.
func (er *ExportReader) extractInto(ctx context.Context, x *extractor, tick func()) error {
	prefix := er.Kind + "/"
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := er.tr.Next()
		if err == io.EOF {
			return fmt.Errorf("archive ends before its manifest (truncated?): %w", errdefs.ErrInvalid)
		}
		if err != nil {
			return fmt.Errorf("read archive after %d entries (truncated or altered?): %v: %w", er.Entries, err, errdefs.ErrInvalid)
		}
		if hdr.Name == exportManifestName {
			return er.checkManifest()
		}
		if !strings.HasPrefix(hdr.Name, prefix) {
			return fmt.Errorf("entry %q is outside %s: %w", hdr.Name, prefix, errdefs.ErrInvalid)
		}
		local := *hdr
		local.Name = "./" + strings.TrimPrefix(hdr.Name, prefix)
		if hdr.Typeflag == tar.TypeLink {
			if !strings.HasPrefix(hdr.Linkname, prefix) {
				return fmt.Errorf("entry %q links to %q outside %s: %w", hdr.Name, hdr.Linkname, prefix, errdefs.ErrInvalid)
			}
			local.Linkname = strings.TrimPrefix(hdr.Linkname, prefix)
		}
		h := sha256.New()
		data := io.TeeReader(er.tr, h)
		if err := x.entry(&local, data); err != nil {
			return fmt.Errorf("entry %q: %w", shortName(hdr.Name), err)
		}
		if _, err := io.Copy(h, er.tr); err != nil {
			return fmt.Errorf("read archive: %v: %w", err, errdefs.ErrInvalid)
		}
		er.digest.entry(hdr, h.Sum(nil))
		er.Entries++
		tick()
	}
}

func (er *ExportReader) checkManifest() error {
	data, _, err := readEntry(er.tr)
	if err != nil {
		return err
	}
	var want exportManifest
	if err := json.Unmarshal(data, &want); err != nil {
		return fmt.Errorf("manifest: %v: %w", err, errdefs.ErrInvalid)
	}
	got := er.digest.manifest()
	for name, sum := range want.Files {
		if got.Files[name] != sum {
			return fmt.Errorf("file %q does not match its sha256 in the manifest (altered or missing): %w", name, errdefs.ErrInvalid)
		}
	}
	if got.Entries != want.Entries || len(got.Files) != len(want.Files) || got.StreamSHA256 != want.StreamSHA256 {
		return fmt.Errorf("archive does not match its manifest (%d entries, stream sha256 %s; manifest says %d, %s): %w",
			got.Entries, got.StreamSHA256, want.Entries, want.StreamSHA256, errdefs.ErrInvalid)
	}
	if _, err := er.tr.Next(); err != io.EOF {
		return fmt.Errorf("data after the manifest: %v: %w", err, errdefs.ErrInvalid)
	}
	// Reading to the end makes the decompressor check its frame checksum.
	if _, err := io.Copy(io.Discard, er.dec); err != nil {
		return fmt.Errorf("archive: %v: %w", err, errdefs.ErrInvalid)
	}
	return nil
}

// ImportRootTemplate makes template name from a "rootfs" export archive,
// within lim (see ZoneImportLimits). Nothing is left if the archive is bad.
func (s *Storage) ImportRootTemplate(ctx context.Context, name string, er *ExportReader, lim ImportLimits, progress ProgressFunc) error {
	if er.Kind != ExportRootfs {
		return fmt.Errorf("archive holds a zone's layer, not a whole root: %w", errdefs.ErrInvalid)
	}
	return s.build(name, func(root string) error {
		x, err := newExtractor(root, lim)
		if err != nil {
			return err
		}
		defer x.close()
		if err := er.extractInto(ctx, x, func() { tickEntries(progress, er.Entries) }); err != nil {
			return err
		}
		if err := x.finish(); err != nil {
			return err
		}
		return checkInit(root)
	}, "import template %q from an export")
}

func tickEntries(progress ProgressFunc, n int) {
	if n%1000 == 0 {
		report(progress, 50, fmt.Sprintf("extracted %d entries", n))
	}
}

// ImportLayer fills the fresh layer of zone v (made by Create and
// MapIDs) from a "layer" export archive: into an overlay upper dir
// its whiteouts become overlay whiteouts; onto a btrfs snapshot of the
// template they delete. Owners move into the zone's host ID range. The
// archive is held to lim (see ZoneImportLimits). The caller deletes the
// zone if this fails.
func (v *Volume) ImportLayer(ctx context.Context, er *ExportReader, lim ImportLimits, progress ProgressFunc) error {
	if er.Kind != ExportLayer {
		return fmt.Errorf("archive holds a whole root, not a zone's layer: %w", errdefs.ErrInvalid)
	}
	p := v.p
	dir := v.LayerDir()
	x, err := newExtractor(dir, lim)
	if err != nil {
		return err
	}
	defer x.close()
	p.backend.PrepareImport(x)
	if err := er.extractInto(ctx, x, func() { tickEntries(progress, er.Entries) }); err != nil {
		return err
	}
	if err := x.finish(); err != nil {
		return err
	}
	return shiftOwners(dir, 0, v.idShift())
}

// overlayWhiteout writes an OCI whiteout entry into an overlay upper dir
// as overlay's own: a 0/0 character device, or the opaque xattr.
func (x *extractor) overlayWhiteout(dir, base string) error {
	pfd, err := x.parent(dir)
	if err != nil {
		return err
	}
	if base == whiteoutOpaque {
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0)
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, whiteoutPrefix) {
		return fmt.Errorf("whiteout %q names nothing: %w", base, errdefs.ErrInvalid)
	}
	if err := x.removeIfExists(pfd, name); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %q: %w", path.Join(dir, name), err)
	}
	return nil
}
