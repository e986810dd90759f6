package fsshare

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// walkOpenMax is how many directories a tree walk holds open at once (per
// tree: a copy holds as many of its destination). A variable so tests can
// make walks reopen directories often.
var walkOpenMax = 64

// A treeWalk visits every entry below a directory with descriptors
// (openat, fstatat), never whole paths, and never follows a symlink. The
// trees walked are zones': a zone's root may nest directories far deeper
// than PATH_MAX (4096 bytes), where a path walk (filepath.WalkDir, cp -a,
// tar) fails with ENAMETOOLONG and the zone can no longer be measured,
// exported, cloned or snapshotted. At most walkOpenMax directories are
// held open, so a deep tree cannot use up the daemon's descriptors
// either: a directory closed on the way down is reopened through ".." on
// the way back up and must be the same directory (a running zone may move
// directories meanwhile; then the walk fails rather than go on in another
// tree). Entries that vanish during the walk (a running zone deletes
// files) are skipped.
type treeWalk struct {
	// mirror, when set, is a directory walked in step: each directory
	// of the tree is made (0700, or kept if it exists) in the mirror
	// before it is visited, and entries get the mirror's descriptors.
	mirror string
	// visit is called for every entry, the root first, each directory
	// before its entries.
	visit func(e *walkEntry) error
	// leave, if set, is called for each directory after its entries.
	leave func(e *walkEntry) error
}

// walkEntry is one entry of a treeWalk; its descriptors are valid only
// during the call.
type walkEntry struct {
	// Dir is the directory holding the entry and Name its name there.
	// For the root Dir is AT_FDCWD and Name the path walked.
	Dir  int
	Name string
	St   unix.Stat_t
	// FD is a directory's own descriptor (O_RDONLY); -1 for others.
	FD int
	// MirrorDir is the mirror of Dir, MirrorFD of a directory itself.
	MirrorDir, MirrorFD int
	// stack is the directories from the root down to Dir.
	stack []*walkFrame
}

// Rel is the entry's path below the root, "." for the root. It is built on
// demand: a deep tree's paths are long.
func (e *walkEntry) Rel() string {
	if len(e.stack) == 0 {
		return "."
	}
	var b strings.Builder
	for _, fr := range e.stack[1:] {
		b.WriteString(fr.name)
		b.WriteByte('/')
	}
	b.WriteString(e.Name)
	return b.String()
}

type walkInode struct{ dev, ino uint64 }

type walkFrame struct {
	name  string
	f     *os.File // nil while closed
	id    walkInode
	m     *os.File // the mirror; nil while closed or without one
	mid   walkInode
	st    unix.Stat_t
	names []string
}

func walkOpenDir(parent int, name string) (*os.File, walkInode, *unix.Stat_t, error) {
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, walkInode{}, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, walkInode{}, nil, err
	}
	return os.NewFile(uintptr(fd), name), walkInode{st.Dev, st.Ino}, &st, nil
}

func fdOf(f *os.File) int {
	if f == nil {
		return -1
	}
	return int(f.Fd())
}

// run walks the tree below root.
func (w *treeWalk) run(root string) error {
	f, id, st, err := walkOpenDir(unix.AT_FDCWD, root)
	if err != nil {
		return err
	}
	rootFr := &walkFrame{name: root, f: f, id: id, st: *st}
	stack := []*walkFrame{rootFr}
	opened := 1
	defer func() {
		for _, fr := range stack {
			fr.close()
		}
	}()
	if w.mirror != "" {
		if rootFr.m, rootFr.mid, _, err = walkOpenDir(unix.AT_FDCWD, w.mirror); err != nil {
			return err
		}
	}
	e := &walkEntry{Dir: unix.AT_FDCWD, Name: root, St: *st, FD: fdOf(rootFr.f), MirrorDir: unix.AT_FDCWD, MirrorFD: fdOf(rootFr.m)}
	if err := w.visit(e); err != nil {
		return err
	}
	if rootFr.names, err = rootFr.f.Readdirnames(-1); err != nil {
		return err
	}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if len(top.names) == 0 {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].f == nil {
				if err := w.reopen(top, stack[n-1]); err != nil {
					top.close()
					return err
				}
				opened++
			}
			if w.leave != nil {
				e := &walkEntry{Dir: unix.AT_FDCWD, Name: top.name, St: top.st, FD: fdOf(top.f), MirrorDir: unix.AT_FDCWD, MirrorFD: fdOf(top.m), stack: stack}
				if n := len(stack); n > 0 {
					e.Dir, e.MirrorDir = fdOf(stack[n-1].f), fdOf(stack[n-1].m)
				}
				if err := w.leave(e); err != nil {
					top.close()
					return err
				}
			}
			top.close()
			opened--
			continue
		}
		name := top.names[0]
		top.names = top.names[1:]
		e := &walkEntry{Dir: fdOf(top.f), Name: name, FD: -1, MirrorDir: fdOf(top.m), MirrorFD: -1, stack: stack}
		if err := unix.Fstatat(e.Dir, name, &e.St, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return err
		}
		if e.St.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := w.visit(e); err != nil {
				return err
			}
			continue
		}
		cf, cid, cst, err := walkOpenDir(e.Dir, name)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue // replaced meanwhile
			}
			return err
		}
		child := &walkFrame{name: name, f: cf, id: cid, st: *cst}
		stack = append(stack, child)
		opened++
		e.St, e.FD = *cst, int(cf.Fd())
		if w.mirror != "" {
			if err := unix.Mkdirat(e.MirrorDir, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return err
			}
			if child.m, child.mid, _, err = walkOpenDir(e.MirrorDir, name); err != nil {
				return err
			}
			e.MirrorFD = int(child.m.Fd())
		}
		e.stack = stack[:len(stack)-1]
		if err := w.visit(e); err != nil {
			return err
		}
		if child.names, err = cf.Readdirnames(-1); err != nil {
			return err
		}
		// Close the shallowest open directory but the one being read:
		// the closed ones stay a prefix of the stack, reopened in turn.
		if opened > walkOpenMax {
			for _, fr := range stack[:len(stack)-1] {
				if fr.f != nil {
					fr.close()
					opened--
					break
				}
			}
		}
	}
	return nil
}

func (fr *walkFrame) close() {
	if fr.f != nil {
		fr.f.Close()
		fr.f = nil
	}
	if fr.m != nil {
		fr.m.Close()
		fr.m = nil
	}
}

// reopen opens up, the closed parent of fr, through fr's "..", and checks
// it is still the directory it was (its mirror too).
func (w *treeWalk) reopen(fr, up *walkFrame) error {
	parent := func(f *os.File, want walkInode) (*os.File, error) {
		pf, id, _, err := walkOpenDir(fdOf(f), "..")
		if err != nil {
			return nil, fmt.Errorf("reopen a directory: %w", err)
		}
		if id != want {
			pf.Close()
			return nil, errors.New("reopen a directory: it moved during the walk")
		}
		return pf, nil
	}
	var err error
	if up.f, err = parent(fr.f, up.id); err != nil || fr.m == nil {
		return err
	}
	up.m, err = parent(fr.m, up.mid)
	return err
}

// procPath names entry name of the open directory dir by a short path,
// for the calls that have no *at form (l*xattr): the kernel resolves
// /proc/self/fd/N to the directory itself and, with the l* calls, does
// not follow name.
func procPath(dir int, name string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", dir, name)
}

// entryXattrs lists the extended attributes of e (through its own
// descriptor fd when it has one open, else without following it), in
// the kernel's order. A filesystem without xattrs has none.
func entryXattrs(e *walkEntry, fd int) ([][2]string, error) {
	list := func(buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Flistxattr(fd, buf)
		}
		return unix.Llistxattr(procPath(e.Dir, e.Name), buf)
	}
	get := func(attr string, buf []byte) (int, error) {
		if fd >= 0 {
			return unix.Fgetxattr(fd, attr, buf)
		}
		return unix.Lgetxattr(procPath(e.Dir, e.Name), attr, buf)
	}
	sz, err := list(nil)
	if err != nil || sz == 0 {
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		return nil, err
	}
	buf := make([]byte, sz)
	if sz, err = list(buf); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, attr := range strings.Split(string(buf[:sz]), "\x00") {
		if attr == "" {
			continue
		}
		vsz, err := get(attr, nil)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue // removed meanwhile
			}
			return nil, err
		}
		val := make([]byte, vsz)
		if vsz, err = get(attr, val); err != nil {
			return nil, err
		}
		out = append(out, [2]string{attr, string(val[:vsz])})
	}
	return out, nil
}

// readlinkAt reads the target of symlink name in dir, whatever its length.
func readlinkAt(dir int, name string, size int64) (string, error) {
	n := int(size) + 1
	if n < 256 {
		n = 256
	}
	for {
		buf := make([]byte, n)
		got, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			return "", err
		}
		if got < n {
			return string(buf[:got]), nil
		}
		n *= 2
	}
}

// removeTree removes p and everything below it, as os.RemoveAll does (a
// missing p is no error; symlinks are removed, never followed), but with
// at most walkOpenMax directories open: os.RemoveAll holds one descriptor
// per level, so a zone nesting directories deeper than the daemon's
// descriptor limit could not be deleted, and starved the daemon of
// descriptors meanwhile.
func removeTree(p string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return os.Remove(p)
	}
	w := treeWalk{
		visit: func(e *walkEntry) error {
			if e.FD >= 0 {
				return nil
			}
			if err := unix.Unlinkat(e.Dir, e.Name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: %w", shortName(e.Rel()), err)
			}
			return nil
		},
		leave: func(e *walkEntry) error {
			if err := unix.Unlinkat(e.Dir, e.Name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove %s: %w", shortName(e.Rel()), err)
			}
			return nil
		},
	}
	if err := w.run(p); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
