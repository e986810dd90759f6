package fsshare

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// ImportTar makes template name from a root filesystem archive: plain tar,
// gzip or zstd, told apart by their magic bytes. The archive is untrusted:
// an entry that would land outside the root, write through a symlink or
// create a device node is refused with ErrInvalid, and any failure
// (including a truncated archive or a full disk) leaves neither template
// nor staging dir behind. The result must have a /sbin/init.
func (s *Storage) ImportTar(ctx context.Context, name string, r io.Reader, progress ProgressFunc) error {
	st, err := s.newStaging(name)
	if err != nil {
		return err
	}
	if err := importArchive(ctx, st.Root, r, progress, s.ImportLimits()); err != nil {
		st.discard()
		return fmt.Errorf("import template %q: %w", name, err)
	}
	if err := s.publish(st, name); err != nil {
		st.discard()
		return err
	}
	report(progress, 100, "imported")
	return nil
}

// ProgressFunc receives how far a slow template operation is (0-100, never
// going back) and what it is doing.
type ProgressFunc func(percent int, message string)

func report(p ProgressFunc, percent int, msg string) {
	if p != nil {
		p(percent, msg)
	}
}

// importArchive extracts a possibly compressed archive into root and checks
// that the result can boot.
func importArchive(ctx context.Context, root string, r io.Reader, progress ProgressFunc, lim ImportLimits) error {
	total := int64(-1)
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			total = fi.Size()
		}
	}
	counted := &countingReader{r: r}
	x, err := newExtractor(root, lim)
	if err != nil {
		return err
	}
	defer x.close()
	last := -1
	err = x.extractStream(ctx, counted, func() {
		if total > 0 {
			pc := int(counted.n * 99 / total)
			if pc > last {
				last = pc
				report(progress, pc, fmt.Sprintf("extracted %d entries", x.entries))
			}
		}
	})
	if err != nil {
		return err
	}
	if err := x.finish(); err != nil {
		return err
	}
	return checkInit(root)
}

// checkInit checks that a root made from an archive can boot. The check
// resolves /sbin/init inside the root: sbin is a symlink to usr/sbin in
// merged-/usr systems.
func checkInit(root string) error {
	if _, err := detectInit(root); err != nil {
		if errors.Is(err, errdefs.ErrInvalid) {
			return fmt.Errorf("archive has no /sbin/init that can boot: %w", err)
		}
		return fmt.Errorf("check /sbin/init: %w", err)
	}
	return nil
}

// extractStream extracts one possibly compressed tar stream (an archive,
// or one layer of an image) into the extractor's root.
func (x *extractor) extractStream(ctx context.Context, r io.Reader, tick func()) error {
	br := bufio.NewReaderSize(r, 1<<20)
	tr, closeDec, err := decompress(br)
	if err != nil {
		return err
	}
	defer closeDec()
	end := &endMarkerReader{r: tr, zero: true}
	if err := x.extract(ctx, end, tick); err != nil {
		return err
	}
	if !end.lastZero {
		// archive/tar takes a stream that stops at an entry boundary as a
		// complete archive; a plain tar cut short would pass for a smaller
		// root.
		return fmt.Errorf("archive ends without an end-of-archive marker (truncated?): %w", errdefs.ErrInvalid)
	}
	return nil
}

// endMarkerReader watches the 512-byte blocks of a tar stream for whether
// the last one read was all zeros, as the end-of-archive marker is.
type endMarkerReader struct {
	r        io.Reader
	off      int64
	zero     bool // the current block is zeros so far
	lastZero bool // the last complete block was zeros
}

func (e *endMarkerReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	for _, b := range p[:n] {
		if b != 0 {
			e.zero = false
		}
		e.off++
		if e.off%512 == 0 {
			e.lastZero, e.zero = e.zero, true
		}
	}
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decompress picks the decompressor by magic bytes.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, err := br.Peek(4)
	if err != nil && len(magic) < 2 {
		return nil, nil, fmt.Errorf("archive is empty or unreadable: %v: %w", err, errdefs.ErrInvalid)
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %v: %w", err, errdefs.ErrInvalid)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %v: %w", err, errdefs.ErrInvalid)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// extractor writes tar entries below a root directory it holds open, using
// only *at calls relative to descriptors opened without following symlinks,
// so no entry can reach outside the root whatever came before it.
type extractor struct {
	root    string
	rootFD  int
	entries int
	// dirs are the times set at the end on the directories (by inode:
	// a deep archive's names are long) the archive made: creating
	// entries inside a directory changes its mtime.
	dirs map[walkInode]dirTimes
	// parent caches the last parent directory, the common case being many
	// entries in a row in one directory.
	parentRel string
	parentFD  int
	// whiteouts makes the extractor apply image layers: ".wh.NAME"
	// deletes NAME of the layers below, ".wh..wh..opq" hides everything
	// a directory had from them, and an entry replaces a directory of a
	// lower layer whole. layer holds what the current layer made, which
	// an opaque marker later in the same layer must keep.
	whiteouts bool
	layer     map[string]bool
	// overlayWhiteouts writes .wh. entries as overlay whiteouts, for
	// extracting a zone's layer into an overlay upper dir.
	overlayWhiteouts bool
	// lim bounds the whole extraction; seen and bytes count against it
	// (every entry, and regular files' sizes, of all streams applied).
	lim         ImportLimits
	seen, bytes int64
}

type dirTimes struct{ atime, mtime unix.Timespec }

// setDirTimes records the times of the archive's directory fd, set by
// finish.
func (x *extractor) setDirTimes(fd int, hdr *tar.Header) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	x.dirs[walkInode{st.Dev, st.Ino}] = dirTimes{ts(hdr.AccessTime, hdr), ts(hdr.ModTime, hdr)}
	return nil
}

func newExtractor(root string, lim ImportLimits) (*extractor, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	return &extractor{root: root, rootFD: fd, parentFD: -1, lim: lim, dirs: map[walkInode]dirTimes{}}, nil
}

func (x *extractor) close() {
	x.dropParent()
	unix.Close(x.rootFD)
}

func (x *extractor) dropParent() {
	if x.parentFD >= 0 {
		unix.Close(x.parentFD)
	}
	x.parentFD, x.parentRel = -1, ""
}

// parent returns a descriptor of directory rel (creating missing
// components 0755), owned by the cache: do not close it.
func (x *extractor) parent(rel string) (int, error) {
	if x.parentFD >= 0 && x.parentRel == rel {
		return x.parentFD, nil
	}
	// An archive of a deep tree names each directory below the last:
	// going on from the cached one keeps extracting it linear, not
	// quadratic, in its depth.
	from, rest := x.rootFD, rel
	if x.parentFD >= 0 && x.parentRel != "" && strings.HasPrefix(rel, x.parentRel+"/") {
		from, rest = x.parentFD, strings.TrimPrefix(rel, x.parentRel+"/")
	}
	fd, err := walkDirs(from, rest, func(_, name string, pfd int) error {
		return unix.Mkdirat(pfd, name, 0o755)
	})
	x.dropParent()
	if err != nil {
		return -1, err
	}
	x.parentFD, x.parentRel = fd, rel
	return fd, nil
}

func (x *extractor) extract(ctx context.Context, r io.Reader, tick func()) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if x.entries == 0 && !x.whiteouts {
				return fmt.Errorf("archive has no entries: %w", errdefs.ErrInvalid)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive after %d entries: %v: %w", x.entries, err, errdefs.ErrInvalid)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", shortName(hdr.Name), err)
		}
		x.entries++
		tick()
	}
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if err := x.admit(hdr); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeChar, tar.TypeBlock:
		// Zones get /dev from zoned; a template must not carry a door
		// to the host's disks or memory.
		return fmt.Errorf("device nodes are not allowed in a template: %w", errdefs.ErrInvalid)
	}
	rel, err := cleanRel(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("the root must be a directory: %w", errdefs.ErrInvalid)
		}
		fd, err := unix.Openat(x.rootFD, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := fileAttrs(fd, hdr); err != nil {
			return err
		}
		return x.setDirTimes(fd, hdr)
	}
	dir, base := path.Split(rel)
	if x.whiteouts && strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(strings.TrimSuffix(dir, "/"), base)
	}
	if x.overlayWhiteouts && strings.HasPrefix(base, whiteoutPrefix) {
		return x.overlayWhiteout(strings.TrimSuffix(dir, "/"), base)
	}
	pfd, err := x.parent(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return err
	}
	if x.whiteouts {
		x.layer[rel] = true
	}
	mode := uint32(hdr.Mode & 0o7777)

	if hdr.Typeflag == tar.TypeDir {
		var st unix.Stat_t
		err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := x.remove(pfd, base); err != nil {
				return err
			}
			err = unix.ENOENT
		}
		if errors.Is(err, unix.ENOENT) {
			err = unix.Mkdirat(pfd, base, 0o700)
		}
		if err != nil {
			return err
		}
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := fileAttrs(fd, hdr); err != nil {
			return err
		}
		return x.setDirTimes(fd, hdr)
	}

	// Everything else replaces what is there, as tar does.
	if err := x.removeIfExists(pfd, base); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, r)
		if err != nil {
			f.Close()
			// A read error is the archive's fault, a write error the disk's.
			var perr *fs.PathError
			if errors.As(err, &perr) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
				return fmt.Errorf("write: %w", err)
			}
			return fmt.Errorf("read archive: %v: %w", err, errdefs.ErrInvalid)
		}
		err = fileAttrs(fd, hdr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		// Stored as is: "/etc/x" resolves inside the zone once it runs.
		if hdr.Linkname == "" {
			return fmt.Errorf("symlink without target: %w", errdefs.ErrInvalid)
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	case tar.TypeLink:
		target, err := cleanRel(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		if target == "" {
			return fmt.Errorf("hard link to the root: %w", errdefs.ErrInvalid)
		}
		tdir, tbase := path.Split(target)
		tfd, err := walkDirs(x.rootFD, strings.TrimSuffix(tdir, "/"), nil)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("hard link target %q is not in the archive before it: %w", hdr.Linkname, errdefs.ErrInvalid)
			}
			return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		return nil // the target's attributes are the link's
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalid)
	}
	times := []unix.Timespec{ts(hdr.AccessTime, hdr), ts(hdr.ModTime, hdr)}
	return unix.UtimesNanoAt(pfd, base, times, unix.AT_SYMLINK_NOFOLLOW)
}

// fileAttrs applies owner, mode and extended attributes in the order that
// keeps them all: chown clears set-id bits and file capabilities, so it
// goes first.
func fileAttrs(fd int, hdr *tar.Header) error {
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	keys := make([]string, 0, len(hdr.PAXRecords))
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		attr := strings.TrimPrefix(k, "SCHILY.xattr.")
		if err := unix.Fsetxattr(fd, attr, []byte(hdr.PAXRecords[k]), 0); err != nil {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

// ts converts an entry's time, falling back to its mtime when the archive
// has none (plain ustar carries no access time).
func ts(t time.Time, hdr *tar.Header) unix.Timespec {
	if t.IsZero() {
		t = hdr.ModTime
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// removeIfExists clears the way for a new entry. A non-empty directory is
// not removed: an archive replacing a populated directory with a file is
// broken.
func (x *extractor) removeIfExists(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	return x.remove(pfd, base)
}

func (x *extractor) remove(pfd int, base string) error {
	if x.whiteouts {
		// A layer's file replaces a lower layer's directory, contents
		// and all.
		return removeAllAt(pfd, base)
	}
	err := unix.Unlinkat(pfd, base, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		err = unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return fmt.Errorf("replace existing entry: %w", err)
	}
	return nil
}

// finish sets directory times once nothing more is created inside them,
// on the way back up a walk of the root: linear in the tree, however deep
// the archive nested it (setting them by name was quadratic in the depth).
func (x *extractor) finish() error {
	x.dropParent()
	if len(x.dirs) == 0 {
		return nil
	}
	var root unix.Stat_t
	if err := unix.Fstat(x.rootFD, &root); err != nil {
		return err
	}
	w := treeWalk{
		visit: func(e *walkEntry) error {
			if e.Dir == unix.AT_FDCWD && (e.St.Dev != root.Dev || e.St.Ino != root.Ino) {
				return fmt.Errorf("%s was replaced during the extraction", x.root)
			}
			return nil
		},
		leave: func(e *walkEntry) error {
			t, ok := x.dirs[walkInode{e.St.Dev, e.St.Ino}]
			if !ok {
				return nil
			}
			if err := unix.UtimesNanoAt(e.FD, "", []unix.Timespec{t.atime, t.mtime}, unix.AT_EMPTY_PATH); err != nil {
				return fmt.Errorf("set times of %s: %w", shortName(e.Rel()), err)
			}
			return nil
		},
	}
	return w.run(x.root)
}

// writeTar archives the tree below root (which must hold no mounts) into w
// as a PAX tar with numeric owners, hard links and extended attributes:
// what extract needs to rebuild it exactly. Device nodes and sockets are
// left out, as extract would refuse them.
func writeTar(ctx context.Context, root string, w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := walkTar(ctx, root, tw, walkOpts{}); err != nil {
		return err
	}
	return tw.Close()
}

// walkOpts change what walkTar writes.
type walkOpts struct {
	// prefix is put before every name ("layer/").
	prefix string
	// shift is subtracted from owners at or above it: an unprivileged
	// zone's host IDs become the zone's own.
	shift int
	// overlay marks root as an overlay upper dir: its whiteouts (0/0
	// character devices) and opaque directories are written as the OCI
	// layer format's .wh. entries, and overlay's own xattrs are dropped.
	overlay bool
	// data, when set, gets every regular file's contents as they are
	// written (for checksums).
	data func(hdr *tar.Header) io.Writer
}

// walkTar writes the tree below root into tw with opts. It walks by
// descriptor (treeWalk): a zone's tree may be deeper than PATH_MAX, and
// its symlinks are stored as links, never followed. The PAX format takes
// names of any length; a name longer than an import accepts
// (maxEntryPath) fails the walk here rather than make an archive that
// cannot be imported.
func walkTar(ctx context.Context, root string, tw *tar.Writer, opts walkOpts) error {
	links := map[walkInode]string{}
	unshift := func(id uint32) int {
		if opts.shift > 0 && int(id) >= opts.shift {
			return int(id) - opts.shift
		}
		return int(id)
	}
	w := treeWalk{visit: func(e *walkEntry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &e.St
		name := opts.prefix + e.Rel()
		if len(name) > maxEntryPath {
			return fmt.Errorf("%s…: a name longer than %d bytes (directories nested that deep) cannot be imported again: %w", name[:128], maxEntryPath, errdefs.ErrUnsupported)
		}
		hdr := &tar.Header{
			Name:    name,
			Mode:    int64(st.Mode & 0o7777),
			Uid:     unshift(st.Uid),
			Gid:     unshift(st.Gid),
			ModTime: time.Unix(st.Mtim.Unix()),
			Format:  tar.FormatPAX,
		}
		fd := -1
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			if opts.overlay && st.Rdev == 0 {
				dir, base := path.Split(name)
				return tw.WriteHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX})
			}
			return nil
		case unix.S_IFBLK, unix.S_IFSOCK:
			return nil
		case unix.S_IFDIR:
			hdr.Typeflag, hdr.Name, fd = tar.TypeDir, name+"/", e.FD
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		case unix.S_IFLNK:
			target, err := readlinkAt(e.Dir, e.Name, st.Size)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case unix.S_IFREG:
			hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
			if st.Nlink > 1 {
				k := walkInode{st.Dev, st.Ino}
				if first, ok := links[k]; ok {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
					return tw.WriteHeader(hdr)
				}
				links[k] = hdr.Name
			}
			var err error
			if fd, err = openSame(e); err != nil {
				return err
			}
			defer unix.Close(fd)
		default:
			return nil
		}
		opaque := false
		if hdr.Typeflag != tar.TypeSymlink {
			attrs, err := entryXattrs(e, fd)
			if err != nil {
				return err
			}
			for _, a := range attrs {
				if opts.overlay && strings.HasPrefix(a[0], "trusted.overlay.") {
					opaque = opaque || (a[0] == "trusted.overlay.opaque" && a[1] == "y")
					continue
				}
				if hdr.PAXRecords == nil {
					hdr.PAXRecords = map[string]string{}
				}
				hdr.PAXRecords["SCHILY.xattr."+a[0]] = a[1]
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if opaque {
			if err := tw.WriteHeader(&tar.Header{Name: hdr.Name + whiteoutOpaque, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		if hdr.Typeflag == tar.TypeReg {
			var w io.Writer = tw
			if opts.data != nil {
				w = io.MultiWriter(tw, opts.data(hdr))
			}
			if _, err := io.Copy(w, io.LimitReader(fdReader(fd), hdr.Size)); err != nil {
				return err
			}
		}
		return nil
	}}
	return w.run(root)
}

// fdReader reads a descriptor its caller closes (an os.File would close
// it again when collected, maybe after the number was reused).
type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	n, err := unix.Read(int(r), p)
	if err != nil {
		return 0, err
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// openSame opens the regular file e for reading, without following a
// symlink, and checks it is still the file the walk saw.
func openSame(e *walkEntry) (int, error) {
	fd, err := unix.Openat(e.Dir, e.Name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != e.St.Ino || st.Dev != e.St.Dev {
		unix.Close(fd)
		if err == nil {
			err = fmt.Errorf("%s changed during the walk", e.Name)
		}
		return -1, err
	}
	return fd, nil
}

var time0 = time.Time{}
