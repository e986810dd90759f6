package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// delegateV2Files are the files of a v2 group its delegatee must write to
// manage its own subtree (what systemd's Delegate=yes hands over). Limit
// files (memory.max, pids.max, ...) stay root's: a zone must not raise its
// own limits.
var delegateV2Files = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}

// Delegate hands the zone's group at path to the host user uid:gid, the
// host IDs of an unprivileged zone's root, so the zone's init (systemd)
// can create and populate groups below its own. On v2 that is the group's
// directory and delegateV2Files; on a hybrid v1 host it is the group in the
// controller-less unified tree, and on a legacy v1 host (no cgroup2 at
// all) the group in the name=systemd hierarchy. Controller hierarchies of
// v1 are never handed over: their files are the zone's limits.
//
// A hybrid host's name=systemd group is not handed over either, because
// nothing can bound it: v1 named hierarchies have no
// cgroup.max.descendants, no controller charges a mkdir there, and a
// zone's storm of groups in it cost the host 100 MiB of unaccounted slab.
// systemd on a hybrid layout tracks its units in the unified tree, which
// LimitTree bounds, and treats name=systemd as a compatibility mirror whose
// failures it only logs ("Failed to create compat systemd cgroup"). A
// legacy host has no unified tree, systemd needs name=systemd there, and
// the zone gets it, unbounded (docs/security.md says so).
func Delegate(path string, uid, gid int) error {
	if err := checkPath(path); err != nil {
		return err
	}
	var err error
	switch Mode() {
	case "v1":
		var dirs map[string]string
		if _, dirs, _, err = v1Hierarchies(path); err == nil {
			if d, ok := dirs["unified"]; ok {
				err = chownFiles(d, delegateV2Files, uid, gid)
			} else if d, ok := dirs["systemd"]; ok {
				err = chownTree(d, uid, gid)
			}
		}
	case "v2":
		err = chownFiles(filepath.Join(root, path), delegateV2Files, uid, gid)
	default:
		err = fmt.Errorf("no cgroup hierarchy is mounted at %s", root)
	}
	if err != nil {
		return fmt.Errorf("delegate cgroup %s to %d:%d: %w", path, uid, gid, err)
	}
	return nil
}

// chownFiles chowns dir and the named files in it; files this kernel does
// not have (cgroup.threads before 4.14) are skipped.
func chownFiles(dir string, files []string, uid, gid int) error {
	if err := os.Lchown(dir, uid, gid); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Lchown(filepath.Join(dir, f), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// chownTree chowns dir and every file directly in it (a fresh group has
// no children).
func chownTree(dir string, uid, gid int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return chownFiles(dir, names, uid, gid)
}
