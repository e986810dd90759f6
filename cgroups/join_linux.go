package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// JoinInitLeaf puts pid into the zone's cgroup g for a command entering a
// running zone. On cgroup v2 a group whose subtree_control has controllers
// may hold no processes ("no internal processes"), and systemd inside a zone
// does exactly that to its root, moving itself into init.scope: writing to
// the zone's own cgroup.procs then fails with EBUSY. So on v2 the command
// joins the leaf the zone's init lives in, provided it lies inside the
// zone's group (the zone may arrange its subtree, but not leave it);
// otherwise, and on v1 where the rule does not exist, the zone's group.
func JoinInitLeaf(g Group, pid, initPid int) error {
	if Mode() != "v2" {
		return g.AddProc(pid)
	}
	leaf, err := unifiedCgroupOf(initPid)
	if err != nil || (leaf != g.Path() && !strings.HasPrefix(leaf, g.Path()+"/")) {
		return g.AddProc(pid)
	}
	procs := filepath.Join(unifiedRoot, leaf, "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("add process %d to cgroup %s: %w", pid, leaf, err)
	}
	return nil
}

// unifiedRoot is where the unified hierarchy is mounted on a v2 host.
const unifiedRoot = "/sys/fs/cgroup"

// unifiedCgroupOf reads pid's cgroup v2 path ("0::/zoned/web1/init.scope"),
// as seen from the daemon's (root) cgroup namespace.
func unifiedCgroupOf(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return filepath.Clean(p), nil
		}
	}
	return "", fmt.Errorf("process %d has no cgroup v2 path", pid)
}

// Entry is how a process about to enter a zone gets into the zone's
// cgroup without the daemon migrating it. Moving a process by pid
// (cgroup.procs) takes the kernel's global cgroup_threadgroup_rwsem for
// writing, which waits for an RCU grace period whenever no other
// migration happened just before: several milliseconds on an idle host,
// paid by every exec. A process created inside the cgroup
// (clone3 CLONE_INTO_CGROUP, Dir) and a single thread moving itself (a
// cgroup v1 "tasks" write of "0", Tasks) skip that lock.
type Entry struct {
	// Dir is the cgroup v2 directory (the unified hierarchy on a hybrid
	// host) to create the process in; nil on a pure v1 host.
	Dir *os.File
	// Tasks are the "tasks" files of the group in every cgroup v1
	// hierarchy, opened for writing; the process writes "0" to each
	// while it still has one thread.
	Tasks []*os.File
}

// Close closes the entry's files.
func (e *Entry) Close() {
	if e.Dir != nil {
		e.Dir.Close()
	}
	for _, f := range e.Tasks {
		f.Close()
	}
}

// EntryFor opens the Entry of g for a command entering the zone whose init
// is initPid: on cgroup v2 the leaf the init lives in, as JoinInitLeaf
// chooses it.
func EntryFor(g Group, initPid int) (*Entry, error) {
	e := &Entry{}
	var dir string
	switch g := g.(type) {
	case *v2Group:
		dir = g.dir
		if leaf, err := unifiedCgroupOf(initPid); err == nil && (leaf == g.Path() || strings.HasPrefix(leaf, g.Path()+"/")) {
			dir = filepath.Join(unifiedRoot, leaf)
		}
	case *v1Group:
		for h, d := range g.dirs {
			if h == "unified" {
				dir = d
				continue
			}
			f, err := os.OpenFile(filepath.Join(d, "tasks"), os.O_WRONLY, 0)
			if err != nil {
				e.Close()
				return nil, fmt.Errorf("enter cgroup %s: %w", g.Path(), err)
			}
			e.Tasks = append(e.Tasks, f)
		}
	default:
		return nil, fmt.Errorf("enter cgroup %s: not a host cgroup (%T)", g.Path(), g)
	}
	if dir != "" {
		f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("enter cgroup %s: %w", g.Path(), err)
		}
		e.Dir = f
	}
	return e, nil
}
