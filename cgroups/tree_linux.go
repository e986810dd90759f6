package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/zoned-project/zoned/errdefs"
)

// A group a zone creates below its own costs the host a few to a few dozen
// KiB of kernel memory (the cgroup, its kernfs nodes and files, the
// controllers' state), and most of it is charged to no one: 10,000 mkdirs
// in a zone grew the host's slab by 107 MiB while the zone was charged
// 8 MiB. The cgroup core bounds a subtree with cgroup.max.descendants and
// cgroup.max.depth, cgroup v2 files that bound every cgroup2 hierarchy:
// the unified one of a v2 host and the controller-less one a hybrid host
// mounts at /sys/fs/cgroup/unified. They are the group's own limit files,
// which Delegate never hands over, so the zone cannot raise them; the
// kernel checks them for every ancestor, so a limit a zone sets on its own
// children only narrows them. v1 hierarchies have no such files: see
// Delegate for name=systemd.

// LimitTree writes l to the group at path in every cgroup2 hierarchy that
// holds it (the unified tree on v2, the hybrid one on v1), so the groups
// a zone makes below its own are bounded. A legacy v1 host has no cgroup2
// hierarchy and nothing to write: the caller learns it from TreeBounded.
func LimitTree(path string, l TreeLimits) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := ValidateTree(l); err != nil {
		return err
	}
	dir, ok, err := unifiedDir(path)
	if err != nil || !ok {
		return err
	}
	num := func(n int) string {
		if n == 0 {
			return "max"
		}
		return strconv.Itoa(n)
	}
	for _, w := range [][2]string{
		{"cgroup.max.descendants", num(l.MaxDescendants)},
		{"cgroup.max.depth", num(l.MaxDepth)},
	} {
		if err := writeFile(dir, w[0], w[1]); err != nil {
			return fmt.Errorf("limit the groups below cgroup %s: %w", path, err)
		}
	}
	return nil
}

// TreeBounded reports whether LimitTree can bound the groups below a
// zone's: the host has a cgroup2 hierarchy (unified or hybrid).
func TreeBounded() bool {
	_, ok, err := unifiedDir("/x")
	return ok && err == nil
}

// unifiedDir is where path lives in the host's cgroup2 hierarchy, if it
// has one.
func unifiedDir(path string) (string, bool, error) {
	switch Mode() {
	case "v2":
		return filepath.Join(root, path), true, nil
	case "v1":
		_, dirs, _, err := v1Hierarchies(path)
		if err != nil {
			return "", false, err
		}
		d, ok := dirs["unified"]
		return d, ok, nil
	}
	return "", false, fmt.Errorf("no cgroup hierarchy is mounted at %s: %w", root, errdefs.ErrUnsupported)
}
