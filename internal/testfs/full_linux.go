package testfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of sizeMiB (and at most inodes inodes, when not
// 0) and returns its mountpoint; cleanup unmounts it. Register it before
// what puts things on it (a daemon), so those go first.
func Tmpfs(t testing.TB, sizeMiB, inodes int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	TmpfsAt(t, dir, sizeMiB, inodes)
	return dir
}

// TmpfsAt is Tmpfs on the existing directory dir.
func TmpfsAt(t testing.TB, dir string, sizeMiB, inodes int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts)")
	}
	opts := fmt.Sprintf("size=%dm,mode=0711", sizeMiB)
	if inodes > 0 {
		opts += fmt.Sprintf(",nr_inodes=%d", inodes)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("leak: unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
}

// FillBlocks writes a file in dir until its filesystem has no block left
// and returns a func that frees the space again.
func FillBlocks(t testing.TB, dir string) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for n := len(buf); ; {
		_, err := f.Write(buf[:n])
		if errors.Is(err, syscall.ENOSPC) {
			if n == 1 {
				break
			}
			n = max(n/2, 1)
			continue
		}
		if err != nil {
			f.Close()
			t.Fatal(err)
		}
	}
	f.Close()
	return func() { os.Remove(p) }
}

// FillInodes makes empty files in dir until its filesystem has no inode
// left, so that even making a directory fails, and returns a func that
// frees them again.
func FillInodes(t testing.TB, dir string) (free func()) {
	t.Helper()
	d := filepath.Join(dir, "inode-filler")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(d, fmt.Sprint(i)))
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return func() { os.RemoveAll(d) }
}
