package fsshare

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUsageWalkMatchesPathWalk: on an ordinary tree, with a hard link
// counted once and a symlink not followed, the descriptor walk gives what
// a path walk gives, also when it must reopen directories all the time.
func TestUsageWalkMatchesPathWalk(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a/b/c", "a/d", "e"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range []string{"a/b/c/f1", "a/d/f2", "e/f3", "f4"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.Repeat("x", 5000*(i+1))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "a/d/f2"), filepath.Join(dir, "e/f2-again")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr", filepath.Join(dir, "a/b/usr")); err != nil {
		t.Fatal(err)
	}
	var want int64
	seen := map[uint64]bool{}
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if !d.IsDir() && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		want += st.Blocks * 512
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, max := range []int{64, 1} {
		walkOpenMax = max
		got, err := diskUsage(dir)
		if err != nil || got != want {
			t.Errorf("diskUsage with %d open directories: %d %v, want %d", max, got, err, want)
		}
	}
	walkOpenMax = 64
}

// TestUsageWalkDeeperThanPathMax: a zone may nest directories far deeper
// than PATH_MAX; its usage is still counted, with few descriptors.
func TestUsageWalkDeeperThanPathMax(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	want := st.Blocks * 512
	name := strings.Repeat("d", 200)
	const depth = 100 // 20 KB of path, five times PATH_MAX
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		want += st.Blocks * 512
	}
	f, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte(strings.Repeat("x", 10000)))
	unix.Fsync(f)
	unix.Fstat(f, &st)
	want += st.Blocks * 512
	unix.Close(f)
	unix.Close(fd)
	defer func() { walkOpenMax = 64 }()
	for _, max := range []int{64, 3} {
		walkOpenMax = max
		if got, err := diskUsage(dir); err != nil || got != want {
			t.Errorf("usage of a tree %d deep with %d open directories: %d %v, want %d", depth, max, got, err, want)
		}
	}
}
