package fsshare

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// duOpenMax is how many directories a disk usage walk holds open at once.
// A variable so tests can make the walk reopen directories often.
var duOpenMax = 64

// usageWalk sums the blocks of every file below dir, counting a file with
// several hard links once: that is what the tree costs on disk. It walks
// with descriptors (openat, fstatat), never with whole paths, because the
// tree is a zone's: its root may nest directories far deeper than
// PATH_MAX (4096 bytes), where a path walk fails with ENAMETOOLONG, and
// with it `zonectl df` for every zone on the host. At most duOpenMax
// directories are held open, so a deep tree cannot use up the daemon's
// descriptors either: a directory closed on the way down is reopened
// through ".." on the way back up and must be the same directory (a
// running zone may move directories meanwhile; then the walk fails rather
// than count another tree). Entries that vanish during the walk (a running
// zone deletes files) are skipped.
func usageWalk(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	type frame struct {
		f     *os.File // nil while closed
		id    inode
		names []string
	}
	open := func(parent int, name string) (*frame, *unix.Stat_t, error) {
		fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, nil, err
		}
		return &frame{f: os.NewFile(uintptr(fd), name), id: inode{st.Dev, st.Ino}}, &st, nil
	}
	root, st, err := open(unix.AT_FDCWD, dir)
	if err != nil {
		return 0, err
	}
	total := st.Blocks * 512
	seen := map[inode]bool{}
	stack := []*frame{root}
	opened := 1
	defer func() {
		for _, fr := range stack {
			if fr.f != nil {
				fr.f.Close()
			}
		}
	}()
	if root.names, err = root.f.Readdirnames(-1); err != nil {
		return 0, err
	}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if len(top.names) == 0 {
			stack = stack[:len(stack)-1]
			if n := len(stack); n > 0 && stack[n-1].f == nil {
				parent, pst, err := open(int(top.f.Fd()), "..")
				if err == nil && (inode{pst.Dev, pst.Ino}) != stack[n-1].id {
					parent.f.Close()
					err = errors.New("a directory moved during the walk")
				}
				if err != nil {
					top.f.Close()
					return 0, fmt.Errorf("usage of %s: reopen a directory: %w", dir, err)
				}
				stack[n-1].f = parent.f
				opened++
			}
			top.f.Close()
			opened--
			continue
		}
		name := top.names[0]
		top.names = top.names[1:]
		var st unix.Stat_t
		if err := unix.Fstatat(int(top.f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return 0, fmt.Errorf("usage of %s: %w", dir, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if st.Nlink > 1 {
				k := inode{st.Dev, st.Ino}
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			total += st.Blocks * 512
			continue
		}
		total += st.Blocks * 512
		child, _, err := open(int(top.f.Fd()), name)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				continue // replaced meanwhile
			}
			return 0, fmt.Errorf("usage of %s: %w", dir, err)
		}
		stack = append(stack, child)
		opened++
		if child.names, err = child.f.Readdirnames(-1); err != nil {
			return 0, fmt.Errorf("usage of %s: %w", dir, err)
		}
		// Close the shallowest open directory but the one being read:
		// the closed ones stay a prefix of the stack, reopened in turn.
		if opened > duOpenMax {
			for _, fr := range stack[:len(stack)-1] {
				if fr.f != nil {
					fr.f.Close()
					fr.f = nil
					opened--
					break
				}
			}
		}
	}
	return total, nil
}
