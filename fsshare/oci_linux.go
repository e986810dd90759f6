package fsshare

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// Whiteout names of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// whiteout applies a whiteout entry found in directory dir of a layer.
func (x *extractor) whiteout(dir, base string) error {
	x.dropParent()
	pfd, err := walkDirs(x.rootFD, dir, nil)
	if errors.Is(err, unix.ENOENT) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == whiteoutOpaque {
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), dir)
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			if x.layer[path.Join(dir, n)] {
				continue
			}
			if err := removeAllAt(pfd, n); err != nil {
				return fmt.Errorf("opaque directory %q: %w", dir, err)
			}
		}
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, whiteoutPrefix) {
		return fmt.Errorf("whiteout %q names nothing: %w", base, errdefs.ErrInvalid)
	}
	if err := removeAllAt(pfd, name); err != nil {
		return fmt.Errorf("whiteout of %q: %w", path.Join(dir, name), err)
	}
	return nil
}

// removeAllAt removes name in directory pfd and everything below it,
// never following a symlink; a missing name is not an error. It is
// removeTree on pfd's entry named through /proc/self/fd, whose walk holds
// few descriptors however deep an archive nested the directories.
func removeAllAt(pfd int, name string) error {
	return removeTree(procPath(pfd, name))
}

// ImportOCI makes template name from an OCI image at src: an image layout
// directory, or a tar archive of one or of `docker save`. Layers are
// applied in order with their whiteouts, each checked against its digest
// where the image names one, and with the same refusals as ImportTar
// (entries leaving the root, writes through symlinks, device nodes). A
// failure leaves no template.
func (s *Storage) ImportOCI(ctx context.Context, name, src string, progress ProgressFunc) error {
	return s.build(name, func(root string) error {
		img, err := openImage(src)
		if err != nil {
			return err
		}
		defer img.Close()
		return applyImage(ctx, root, img, progress, s.ImportLimits())
	}, "import template %q from OCI image "+src)
}

// ImportDir makes template name from a copy of the host directory dir. The
// tree goes through the same checks as an archive; a device node in it is
// refused, and dir must hold no mounts.
func (s *Storage) ImportDir(ctx context.Context, name, dir string, progress ProgressFunc) error {
	return s.build(name, func(root string) error {
		if !filepath.IsAbs(dir) {
			return errdefs.WithField("path", fmt.Errorf("directory %q must be an absolute path: %w", dir, errdefs.ErrInvalid))
		}
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			return errdefs.WithField("path", fmt.Errorf("%s is not a directory: %w", dir, errdefs.ErrInvalid))
		}
		if m, err := mountsUnder(dir); err != nil || len(m) > 0 {
			return errdefs.WithField("path", fmt.Errorf("%s has mounts below it (%v), copy a plain tree: %w", dir, m, errdefs.ErrInvalid))
		}
		if within(root, dir) {
			return errdefs.WithField("path", fmt.Errorf("%s holds the data dir: %w", dir, errdefs.ErrInvalid))
		}
		if err := refuseDevices(dir); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(ctx, dir, pw)) }()
		err = importArchive(ctx, root, pr, nil, s.ImportLimits())
		pr.CloseWithError(err)
		return err
	}, "import template %q from directory "+dir)
}

// build fills a staging root with fill and publishes it as template name;
// any failure removes the staging dir. what is the error's context, with
// %q for the name.
func (s *Storage) build(name string, fill func(root string) error, what string) error {
	st, err := s.newStaging(name)
	if err != nil {
		return err
	}
	if err := fill(st.Root); err != nil {
		st.discard()
		return fmt.Errorf(what+": %w", name, err)
	}
	if err := s.publish(st, name); err != nil {
		st.discard()
		return err
	}
	return nil
}

// refuseDevices fails on the first device node below dir: writeTar would
// leave it out silently, and a template must not carry one.
func refuseDevices(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
			return fmt.Errorf("%s is a device node, not allowed in a template: %w", p, errdefs.ErrInvalid)
		}
		return nil
	})
}

// image is an OCI image's blobs: in a layout directory or an archive.
type image interface {
	// open returns the file at name (a path in the layout or archive).
	open(name string) (io.ReadCloser, error)
	Close() error
}

// layoutDir reads an image layout directory through an os.Root, so no
// name in the image can lead outside it.
type layoutDir struct{ root *os.Root }

func (l layoutDir) open(name string) (io.ReadCloser, error) {
	f, err := l.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s in the image: %w", name, err)
	}
	return f, nil
}

func (l layoutDir) Close() error { return l.root.Close() }

// archiveImage reads blobs straight out of an uncompressed tar archive
// (what docker save writes), by the offsets of its entries: no copy of
// the image is made.
type archiveImage struct {
	f       *os.File
	entries map[string][2]int64 // clean name: offset, size
}

func (a *archiveImage) open(name string) (io.ReadCloser, error) {
	e, ok := a.entries[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("the archive has no %s: %w", name, errdefs.ErrInvalid)
	}
	return io.NopCloser(io.NewSectionReader(a.f, e[0], e[1])), nil
}

func (a *archiveImage) Close() error { return a.f.Close() }

func openImage(src string) (image, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, errdefs.WithField("path", fmt.Errorf("image %s: %w", src, errdefs.ErrInvalid))
	}
	if fi.IsDir() {
		r, err := os.OpenRoot(src)
		if err != nil {
			return nil, err
		}
		return layoutDir{r}, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	a := &archiveImage{f: f, entries: map[string][2]int64{}}
	// How far the tar reader has read the file is, after Next, where the
	// entry's data starts.
	or := &countingReader{r: f}
	tr := tar.NewReader(or)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("image archive %s is not a plain tar (docker save or an OCI layout): %v: %w", src, err, errdefs.ErrInvalid)
		}
		if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA {
			a.entries[path.Clean(hdr.Name)] = [2]int64{or.n, hdr.Size}
		}
	}
	if len(a.entries) == 0 {
		f.Close()
		return nil, fmt.Errorf("image archive %s has no files: %w", src, errdefs.ErrInvalid)
	}
	return a, nil
}

// layer is one layer to apply: where it is and the digest it must have
// ("" when the image does not say, as docker save's old format).
type layer struct {
	name   string
	digest digest.Digest
}

// maxImageJSON bounds the index and manifests read into memory.
const maxImageJSON = 4 << 20

func readJSON(img image, name string, dgst digest.Digest, v any) error {
	rc, err := img.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxImageJSON+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxImageJSON {
		return fmt.Errorf("%s is larger than %d bytes: %w", name, maxImageJSON, errdefs.ErrInvalid)
	}
	if dgst != "" && digest.FromBytes(data) != dgst {
		return fmt.Errorf("%s does not match its digest %s: %w", name, dgst, errdefs.ErrInvalid)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %v: %w", name, err, errdefs.ErrInvalid)
	}
	return nil
}

func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalid)
	}
	return path.Join("blobs", d.Algorithm().String(), d.Encoded()), nil
}

// imageLayers finds the layers of the image: from index.json (an OCI
// layout, which docker save also writes since Docker 25), else from
// docker save's manifest.json.
func imageLayers(img image) ([]layer, error) {
	var idx v1.Index
	err := readJSON(img, "index.json", "", &idx)
	if err != nil {
		var dm []struct {
			Layers []string `json:"Layers"`
		}
		if err2 := readJSON(img, "manifest.json", "", &dm); err2 != nil {
			return nil, fmt.Errorf("neither an OCI layout (%v) nor a docker save archive (%v): %w", err, err2, errdefs.ErrInvalid)
		}
		if len(dm) != 1 {
			return nil, fmt.Errorf("docker save archive holds %d images, want 1: %w", len(dm), errdefs.ErrInvalid)
		}
		var out []layer
		for _, l := range dm[0].Layers {
			// docker 25+ names OCI blobs here; their path says the digest.
			var d digest.Digest
			if alg, enc, ok := strings.Cut(strings.TrimPrefix(l, "blobs/"), "/"); ok && strings.HasPrefix(l, "blobs/") {
				d = digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
			}
			out = append(out, layer{name: l, digest: d})
		}
		return out, nil
	}
	// An index may point at a nested index (multi-platform images); one
	// level of nesting is what tools write.
	for depth := 0; depth < 2; depth++ {
		desc, err := pickManifest(idx.Manifests)
		if err != nil {
			return nil, err
		}
		p, err := blobPath(desc.Digest)
		if err != nil {
			return nil, err
		}
		if desc.MediaType == v1.MediaTypeImageIndex || desc.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json" {
			idx = v1.Index{}
			if err := readJSON(img, p, desc.Digest, &idx); err != nil {
				return nil, err
			}
			continue
		}
		var m v1.Manifest
		if err := readJSON(img, p, desc.Digest, &m); err != nil {
			return nil, err
		}
		var out []layer
		for _, l := range m.Layers {
			lp, err := blobPath(l.Digest)
			if err != nil {
				return nil, err
			}
			out = append(out, layer{name: lp, digest: l.Digest})
		}
		return out, nil
	}
	return nil, fmt.Errorf("image index nests deeper than zoned follows: %w", errdefs.ErrInvalid)
}

// pickManifest chooses the manifest for this host: the only one, or the
// one for linux on this architecture.
func pickManifest(ds []v1.Descriptor) (v1.Descriptor, error) {
	if len(ds) == 1 {
		return ds[0], nil
	}
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("image index has %d manifests and none for linux/%s: %w", len(ds), runtime.GOARCH, errdefs.ErrInvalid)
}

// applyImage extracts the image's layers in order into root.
func applyImage(ctx context.Context, root string, img image, progress ProgressFunc, lim ImportLimits) error {
	layers, err := imageLayers(img)
	if err != nil {
		return err
	}
	if len(layers) == 0 {
		return fmt.Errorf("image has no layers: %w", errdefs.ErrInvalid)
	}
	x, err := newExtractor(root, lim)
	if err != nil {
		return err
	}
	defer x.close()
	x.whiteouts = true
	for i, l := range layers {
		report(progress, i*99/len(layers), fmt.Sprintf("layer %d of %d", i+1, len(layers)))
		if err := applyLayer(ctx, x, img, l); err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.name, err)
		}
	}
	if err := x.finish(); err != nil {
		return err
	}
	return checkInit(root)
}

func applyLayer(ctx context.Context, x *extractor, img image, l layer) error {
	rc, err := img.open(l.name)
	if err != nil {
		return err
	}
	defer rc.Close()
	var r io.Reader = rc
	var h hash.Hash
	if l.digest != "" {
		if l.digest.Algorithm() != digest.SHA256 {
			return fmt.Errorf("digest algorithm %s is not supported (sha256 is): %w", l.digest.Algorithm(), errdefs.ErrInvalid)
		}
		h = sha256.New()
		r = io.TeeReader(rc, h)
	}
	x.layer = map[string]bool{}
	if err := x.extractStream(ctx, r, func() {}); err != nil {
		return err
	}
	if h != nil {
		// The decompressor may stop before the blob's end (padding).
		if _, err := io.Copy(io.Discard, r); err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != l.digest.Encoded() {
			return fmt.Errorf("layer's sha256 is %s, the image says %s (altered or truncated): %w", got, l.digest.Encoded(), errdefs.ErrInvalid)
		}
	}
	return nil
}
