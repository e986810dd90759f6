package fsshare

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// copyTree copies the tree src into the existing directory dst with
// owners, modes, times, hard links and xattrs (security.capability and
// overlay's trusted.* ones too), device nodes, fifos and sockets, sharing
// extents where the filesystem can (reflink) and keeping holes. It walks
// by descriptor (treeWalk), as the trees are zones' layers: `cp -a`, which
// this replaced, fails with "File name too long" on a tree deeper than
// PATH_MAX, which a zone can make to keep itself from being cloned or
// snapshotted. Symlinks are copied as links, never followed.
func copyTree(src, dst string) error {
	rootFD, err := unix.Open(dst, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	defer unix.Close(rootFD)
	// Where the first of several hard links went, to link the others to.
	links := map[walkInode]string{}
	w := treeWalk{mirror: dst}
	w.visit = func(e *walkEntry) error {
		if err := copyEntry(e, rootFD, links); err != nil {
			return fmt.Errorf("%s: %w", shortName(e.Rel()), err)
		}
		return nil
	}
	w.leave = func(e *walkEntry) error {
		// Last: copying the entries changed the directory's times.
		return unix.UtimesNanoAt(e.MirrorFD, "", statTimes(&e.St), unix.AT_EMPTY_PATH)
	}
	if err := w.run(src); err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
			return fmt.Errorf("copy %s to %s: %w: %w", src, dst, err, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

func statTimes(st *unix.Stat_t) []unix.Timespec {
	return []unix.Timespec{st.Atim, st.Mtim}
}

// copyEntry makes the copy of e in e.MirrorDir (a directory: e.MirrorFD,
// made by the walk).
func copyEntry(e *walkEntry, rootFD int, links map[walkInode]string) error {
	st := &e.St
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFDIR {
		return copyAttrs(e, e.FD, e.MirrorFD)
	}
	if st.Nlink > 1 {
		k := walkInode{st.Dev, st.Ino}
		if first, ok := links[k]; ok {
			dir, base := path.Split(first)
			tfd, err := walkDirs(rootFD, strings.TrimSuffix(dir, "/"), nil)
			if err != nil {
				return fmt.Errorf("hard link: %w", err)
			}
			defer unix.Close(tfd)
			return unix.Linkat(tfd, base, e.MirrorDir, e.Name, 0)
		}
		links[k] = e.Rel()
	}
	switch typ {
	case unix.S_IFREG:
		in, err := openSame(e)
		if err != nil {
			return err
		}
		defer unix.Close(in)
		out, err := unix.Openat(e.MirrorDir, e.Name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		defer unix.Close(out)
		if err := copyData(out, in, st.Size); err != nil {
			return err
		}
		if err := copyAttrs(e, in, out); err != nil {
			return err
		}
		return unix.UtimesNanoAt(out, "", statTimes(st), unix.AT_EMPTY_PATH)
	case unix.S_IFLNK:
		target, err := readlinkAt(e.Dir, e.Name, st.Size)
		if err != nil {
			return err
		}
		if err := unix.Symlinkat(target, e.MirrorDir, e.Name); err != nil {
			return err
		}
	default: // device nodes (overlay's whiteouts among them), fifos, sockets
		if err := unix.Mknodat(e.MirrorDir, e.Name, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
			return err
		}
	}
	if err := copyAttrs(e, -1, -1); err != nil {
		return err
	}
	return unix.UtimesNanoAt(e.MirrorDir, e.Name, statTimes(st), unix.AT_SYMLINK_NOFOLLOW)
}

// copyAttrs gives the copy of e e's owner, mode and xattrs, in the order
// that keeps them all: chown clears set-id bits and file capabilities.
// in and out are e's and its copy's descriptors, or -1 to name them in
// their directories without following a symlink.
func copyAttrs(e *walkEntry, in, out int) error {
	st := &e.St
	if out >= 0 {
		if err := unix.Fchown(out, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		if err := unix.Fchmod(out, st.Mode&0o7777); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	} else {
		if err := unix.Fchownat(e.MirrorDir, e.Name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		// A symlink's mode is always 0777; the others are what the walk
		// just made, not symlinks, so chmod does not follow one.
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := unix.Fchmodat(e.MirrorDir, e.Name, st.Mode&0o7777, 0); err != nil {
				return fmt.Errorf("chmod: %w", err)
			}
		}
	}
	attrs, err := entryXattrs(e, in)
	if err != nil {
		return fmt.Errorf("read xattrs: %w", err)
	}
	for _, a := range attrs {
		if out >= 0 {
			err = unix.Fsetxattr(out, a[0], []byte(a[1]), 0)
		} else {
			err = unix.Lsetxattr(procPath(e.MirrorDir, e.Name), a[0], []byte(a[1]), 0)
		}
		// As cp -a: a filesystem that cannot hold an attribute does
		// not stop the copy.
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set xattr %s: %w", a[0], err)
		}
	}
	return nil
}

// copyData copies a regular file's contents: a reflink where the
// filesystem can, else its data extents only, so holes stay holes.
func copyData(out, in int, size int64) error {
	if unix.IoctlFileClone(out, in) == nil {
		return nil
	}
	var off int64
	for off < size {
		data, err := unix.Seek(in, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			data = off // no SEEK_DATA here: copy everything
		}
		end, err := unix.Seek(in, data, unix.SEEK_HOLE)
		if err != nil || end > size {
			end = size
		}
		for data < end {
			roff, woff := data, data
			n, err := unix.CopyFileRange(in, &roff, out, &woff, int(end-data), 0)
			if err != nil && (errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)) {
				n, err = copyRange(out, in, data, end-data)
			}
			if err != nil {
				return err
			}
			if n == 0 {
				break // the file shrank meanwhile
			}
			data += int64(n)
		}
		off = end
	}
	return unix.Ftruncate(out, size)
}

// copyRange copies up to n bytes at off with pread and pwrite.
func copyRange(out, in int, off, n int64) (int, error) {
	buf := make([]byte, min(n, 1<<20))
	r, err := unix.Pread(in, buf, off)
	if err != nil || r == 0 {
		return 0, err
	}
	done := 0
	for done < r {
		w, err := unix.Pwrite(out, buf[done:r], off+int64(done))
		if err != nil {
			return done, err
		}
		done += w
	}
	return done, nil
}
