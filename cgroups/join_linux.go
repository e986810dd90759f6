package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
