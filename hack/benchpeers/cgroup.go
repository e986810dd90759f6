//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// The benchmark gives every tool (zoned's daemon included) a cgroup below
// one absolute group of its own, /zoned-bench-<rand>, in every mounted
// hierarchy, and removes that tree at the end. It never writes to a group
// outside it: the session's own cgroup belongs to someone else.

// hierarchies returns the mount points of the cgroup hierarchies (v1
// controllers, named ones such as name=systemd, and cgroup2), each mounted
// at the hierarchy's root.
func hierarchies() ([]string, error) {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return (m.FSType != "cgroup" && m.FSType != "cgroup2") || m.Root != "/", false
	})
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range infos {
		if !seen[m.Mountpoint] {
			seen[m.Mountpoint] = true
			out = append(out, m.Mountpoint)
		}
	}
	return out, nil
}

// makeGroup creates path (absolute, below the benchmark's root) in every
// hierarchy. A v1 cpuset group starts with no CPUs, which refuses tasks:
// it inherits its parent's.
func makeGroup(path string) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h, path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cpuset.cpus")); err == nil && filepath.Base(h) != "unified" {
			if err := inheritCpuset(h, path); err != nil {
				return err
			}
		}
	}
	return nil
}

// inheritCpuset copies cpuset.cpus and cpuset.mems down from the root to
// path, for every level that has them empty.
func inheritCpuset(h, path string) error {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	dir := h
	for _, p := range parts {
		parent := dir
		dir = filepath.Join(dir, p)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil // a v2 group without cpuset: nothing to inherit
			}
			if strings.TrimSpace(string(cur)) != "" {
				continue
			}
			val, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f), val, 0o644); err != nil {
				return fmt.Errorf("inherit %s in %s: %w", f, dir, err)
			}
		}
	}
	return nil
}

// joinGroup moves the calling process into path in every hierarchy.
func joinGroup(path string) error {
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, h := range hs {
		if err := os.WriteFile(filepath.Join(h, path, "cgroup.procs"), pid, 0o644); err != nil {
			return fmt.Errorf("join cgroup %s: %w", filepath.Join(h, path), err)
		}
	}
	return nil
}

// groupPIDs returns every process in path and below, in the first
// hierarchy that has the group (all hierarchies hold the same tasks for
// groups the benchmark made).
func groupPIDs(path string) []int {
	hs, _ := hierarchies()
	seen := map[int]bool{}
	var pids []int
	for _, h := range hs {
		root := filepath.Join(h, path)
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeGroup kills whatever still runs in path (all of it is the
// benchmark's) and removes the group and its children, deepest first, in
// every hierarchy.
func removeGroup(path string) error {
	if path == "" || path == "/" || !strings.HasPrefix(path, "/zoned-bench-") {
		return fmt.Errorf("refusing to remove cgroup %q: not the benchmark's", path)
	}
	hs, err := hierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for attempt := 0; attempt < 50; attempt++ {
		for _, pid := range groupPIDs(path) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		errs = nil
		for _, h := range hs {
			root := filepath.Join(h, path)
			var dirs []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
					errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
				}
			}
		}
		if len(errs) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// memoryUsage returns a group's memory usage in bytes (page cache and
// kernel memory included): memory.usage_in_bytes on v1, memory.current on
// v2.
func memoryUsage(path string) (uint64, error) {
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.usage_in_bytes"),
		filepath.Join("/sys/fs/cgroup", path, "memory.current"),
	} {
		if data, err := os.ReadFile(f); err == nil {
			return strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		}
	}
	return 0, fmt.Errorf("no memory usage file for cgroup %s", path)
}

// cgexecMain is the hidden subcommand `cgexec GROUP CMD ARGS...`: join the
// benchmark's GROUP in every hierarchy, then become CMD. Peers that would
// otherwise place themselves relative to the caller's cgroup (lxc with
// lxc.cgroup.relative, systemd-nspawn --keep-unit) start from it.
func cgexecMain(args []string) {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchpeers cgexec GROUP CMD [ARGS...]")
		os.Exit(2)
	}
	if err := joinGroup(args[0]); err != nil {
		fmt.Fprintln(os.Stderr, "cgexec:", err)
		os.Exit(1)
	}
	bin, err := lookPath(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "cgexec:", err)
		os.Exit(127)
	}
	err = syscall.Exec(bin, args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "cgexec:", err)
	os.Exit(1)
}
