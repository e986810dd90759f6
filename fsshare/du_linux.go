package fsshare

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// usageWalk sums the blocks of every file below dir, counting a file with
// several hard links once: that is what the tree costs on disk. It walks
// with descriptors (treeWalk), so a zone nesting directories far deeper
// than PATH_MAX cannot make `zonectl df` fail for every zone on the host,
// nor use up the daemon's descriptors.
func usageWalk(dir string) (int64, error) {
	var total int64
	seen := map[walkInode]bool{}
	w := treeWalk{visit: func(e *walkEntry) error {
		if e.St.Mode&unix.S_IFMT != unix.S_IFDIR && e.St.Nlink > 1 {
			k := walkInode{e.St.Dev, e.St.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += e.St.Blocks * 512
		return nil
	}}
	if err := w.run(dir); err != nil {
		return 0, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return total, nil
}
