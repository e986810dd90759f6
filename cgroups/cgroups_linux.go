package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cg "github.com/containerd/cgroups/v3"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/kfile"
)

// root is where cgroup hierarchies are mounted.
const root = "/sys/fs/cgroup"

// killTimeout bounds Kill's wait for an emptied group.
const killTimeout = 10 * time.Second

// Mode reports the host's cgroup layout: "v1" (legacy or hybrid), "v2"
// (unified) or "" when no cgroups are mounted.
func Mode() string {
	switch cg.Mode() {
	case cg.Unified:
		return "v2"
	case cg.Legacy, cg.Hybrid:
		return "v1"
	}
	return ""
}

// New creates the group at path in the host's cgroup layout and applies
// res. A group that exists already fails with ErrAlreadyExists (Load it);
// a failure part way removes what New made.
func New(path string, res *specs.LinuxResources) (Group, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	switch Mode() {
	case "v1":
		return newV1(path, res)
	case "v2":
		return newV2(path, res)
	}
	return nil, fmt.Errorf("create cgroup %s: no cgroup hierarchy is mounted at %s: %w", path, root, errdefs.ErrUnsupported)
}

// Load returns the existing group at path, or an error wrapping
// ErrNotFound.
func Load(path string) (Group, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	switch Mode() {
	case "v1":
		return loadV1(path)
	case "v2":
		return loadV2(path)
	}
	return nil, fmt.Errorf("load cgroup %s: no cgroup hierarchy is mounted at %s: %w", path, root, errdefs.ErrUnsupported)
}

// RemoveEmpty removes the group at path from every hierarchy if it holds
// no process and no child group there; otherwise it removes nothing and
// the error wraps ErrConflict. It is for a parent zoned made (the zones'
// parent), which must never take a child with it, as Delete would.
func RemoveEmpty(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	var dirs []string
	switch Mode() {
	case "v1":
		_, byCtrl, _, err := v1Hierarchies(path)
		if err != nil {
			return err
		}
		for _, d := range byCtrl {
			dirs = append(dirs, d)
		}
	case "v2":
		dirs = []string{filepath.Join(root, path)}
	}
	// Every hierarchy is checked before any is touched, so a group in use
	// keeps all of its directories.
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", path, err)
		}
		for _, e := range ents {
			if e.IsDir() {
				return fmt.Errorf("remove cgroup %s: it holds group %s: %w", path, e.Name(), errdefs.ErrConflict)
			}
		}
		if pids, err := readProcs(d); err == nil && len(pids) > 0 {
			return busyError(path, pids)
		}
	}
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

// checkPath insists on an absolute, clean path below the root, so a group
// can never be the root itself or climb out of the hierarchy.
func checkPath(path string) error {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
		return fmt.Errorf("cgroup path %q must be absolute, clean and not the root: %w", path, errdefs.ErrInvalid)
	}
	return nil
}

// missingDirs returns path's directories under base that do not exist yet,
// deepest first: what to remove when creating the group fails.
func missingDirs(base, path string) []string {
	var out []string
	for p := path; p != "/"; p = filepath.Dir(p) {
		d := filepath.Join(base, p)
		if _, err := os.Lstat(d); err == nil {
			break
		}
		out = append(out, d)
	}
	return out
}

// removeTree removes a cgroup directory and every child group below it,
// deepest first. A cgroup directory holds only kernel files, which rmdir
// ignores, so os.RemoveAll would fail on them. The kernel answers EBUSY for
// a moment after the last task left; retry a few times.
func removeTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk %s: %w", dir, err)
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		var err error
		for delay := 10 * time.Millisecond; delay < 2*time.Second; delay *= 2 {
			err = unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EAGAIN) {
				break
			}
			time.Sleep(delay)
		}
		if err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	return nil
}

// writeFile writes one value to a cgroup control file.
func writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readUint reads a control file holding one number; "max" and the v1
// "unlimited" values read as 0.
func readUint(dir, file string) (uint64, error) {
	p := filepath.Join(dir, file)
	b, err := kfile.Read(p)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", p, err)
	}
	if v >= 1<<62 { // v1's "unlimited" is PAGE_COUNTER_MAX pages
		return 0, nil
	}
	return v, nil
}

// readKeyed reads a flat keyed file ("key value" lines) such as
// memory.events, cpu.stat or pids.events.
func readKeyed(dir, file string) (map[string]uint64, error) {
	p := filepath.Join(dir, file)
	b, err := kfile.Read(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// readProcs reads cgroup.procs of dir and all its children.
func readProcs(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list processes of %s: %w", dir, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// waitEmpty polls until list reports no process or killTimeout passes.
// Killed processes are usually gone within a millisecond, so the polls
// start short and back off to 10 ms: a stop should not pay a fixed sleep.
func waitEmpty(path string, list func() ([]int, error)) error {
	deadline := time.Now().Add(killTimeout)
	delay := 500 * time.Microsecond
	for {
		pids, err := list()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still holds processes %v %v after SIGKILL: %w", path, pids, killTimeout, errdefs.ErrUnavailable)
		}
		time.Sleep(delay)
		delay = min(delay*2, 10*time.Millisecond)
	}
}

// busyError is Delete's answer for a group that still has processes.
func busyError(path string, pids []int) error {
	return fmt.Errorf("delete cgroup %s: still holds processes %v (kill them first): %w", path, pids, errdefs.ErrConflict)
}
