// Package testfs gives tests real filesystems of a chosen type (btrfs,
// ext4, a small one to fill up) on loop files, cleaned up with the test.
package testfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Supported reports whether the kernel has filesystem fstype, loading its
// module if needed.
func Supported(fstype string) bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err == nil && bytes.Contains(data, []byte("\t"+fstype+"\n")) {
		return true
	}
	return exec.Command("modprobe", "-q", fstype).Run() == nil
}

// Loop makes a filesystem of type fstype of sizeMiB on a loop file, mounts
// it and returns the mountpoint. Cleanup unmounts it and frees the loop
// device; register it before what puts things on it, so those go first.
// It skips where the kernel or mkfs lacks the filesystem.
func Loop(t testing.TB, fstype string, sizeMiB int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mounts)")
	}
	if !Supported(fstype) {
		t.Skipf("kernel has no %s (CONFIG_%s_FS)", fstype, strings.ToUpper(fstype))
	}
	if _, err := exec.LookPath("mkfs." + fstype); err != nil {
		t.Skipf("needs mkfs.%s (hack/setup.sh installs it)", fstype)
	}
	dir := t.TempDir()
	// t.TempDir's parent is 0700; unprivileged zones' IDs must pass
	// through to a pool or data dir on this filesystem.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, sizeMiB<<20); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", img}
	if fstype == "ext4" {
		args = []string{"-q", "-F", img}
	}
	if out, err := exec.Command("mkfs."+fstype, args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.%s: %v: %s", fstype, err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("leak: losetup -d %s: %v: %s", dev, err, out)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(dev, mnt, fstype, 0, ""); err != nil {
		t.Fatalf("mount %s: %v", fstype, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("leak: unmount %s: %v", mnt, err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return mnt
}
