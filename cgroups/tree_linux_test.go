package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// TestLimitTreeStopsMkdir proves the bound on groups below a zone's own
// reaches the kernel: with 3 descendants and depth 2 allowed, the third
// level and the fourth group are refused, on v2 in the unified tree and on
// a hybrid v1 host in /sys/fs/cgroup/unified (where a zone's systemd keeps
// its units).
func TestLimitTreeStopsMkdir(t *testing.T) {
	requireCgroups(t)
	if !TreeBounded() {
		t.Skip("needs a cgroup2 hierarchy (unified or hybrid): a legacy v1 host has no cgroup.max.descendants")
	}
	path := testParent(t) + "/zone"
	g, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	if err := LimitTree(path, TreeLimits{MaxDescendants: 3, MaxDepth: 2}); err != nil {
		t.Fatal(err)
	}
	dir, _, err := unifiedDir(path)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"cgroup.max.descendants": "3", "cgroup.max.depth": "2"} {
		if b, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(b) != want+"\n" {
			t.Errorf("%s = %q, %v; want %s", file, b, err, want)
		}
	}
	mkdir := func(rel string) error { return unix.Mkdir(filepath.Join(dir, rel), 0o755) }
	for _, ok := range []string{"a", "a/x", "b"} {
		if err := mkdir(ok); err != nil {
			t.Fatalf("mkdir %s within the limits: %v", ok, err)
		}
	}
	// The kernel answers EAGAIN for both limits.
	if err := mkdir("a/x/y"); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("mkdir a/x/y, three levels below: %v, want EAGAIN", err)
	}
	if err := mkdir("c"); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("mkdir c, a fourth descendant: %v, want EAGAIN", err)
	}
	// Zero lifts the limits again.
	if err := LimitTree(path, TreeLimits{}); err != nil {
		t.Fatal(err)
	}
	if err := mkdir("c"); err != nil {
		t.Errorf("mkdir c without limits: %v", err)
	}
	if err := LimitTree(path, TreeLimits{MaxDepth: -1}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("negative depth: %v, want ErrInvalid", err)
	}
}

// TestDelegateHandsOverOnlyBoundedTrees: the zone's root gets what it
// needs to manage its subtree in the cgroup2 tree, but never the limit
// files there, and on a hybrid host not the name=systemd group, which
// nothing could bound.
func TestDelegateHandsOverOnlyBoundedTrees(t *testing.T) {
	requireCgroups(t)
	if !TreeBounded() {
		t.Skip("needs a cgroup2 hierarchy (unified or hybrid)")
	}
	path := testParent(t) + "/zone"
	g, err := New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Delete()
	const id = 1234567
	if err := Delegate(path, id, id); err != nil {
		t.Fatal(err)
	}
	owner := func(p string) int {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid)
	}
	dir, _, _ := unifiedDir(path)
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control"} {
		if got := owner(filepath.Join(dir, f)); got != id {
			t.Errorf("%s is owned by %d, want the zone's root %d", filepath.Join(dir, f), got, id)
		}
	}
	for _, f := range []string{"cgroup.max.descendants", "cgroup.max.depth"} {
		if got := owner(filepath.Join(dir, f)); got != 0 {
			t.Errorf("%s is owned by %d: the zone could raise its own limit", filepath.Join(dir, f), got)
		}
	}
	if Mode() == "v1" {
		_, dirs, _, err := v1Hierarchies(path)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := dirs["systemd"]; ok {
			if got := owner(d); got != 0 {
				t.Errorf("name=systemd group %s is owned by %d: a zone could make unbounded groups there", d, got)
			}
		}
	}
}
