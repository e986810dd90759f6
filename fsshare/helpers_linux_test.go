package fsshare

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, overlay mounts)")
	}
}

func requireOverlay(t *testing.T) {
	t.Helper()
	requireRoot(t)
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		t.Skip("needs the overlay filesystem (CONFIG_OVERLAY_FS)")
	}
}

// newTestStorage gives a Storage in a temp dir and checks at the end that
// nothing is left mounted below it.
func newTestStorage(t *testing.T) *Storage {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m, _ := mountsUnder(dir); len(m) > 0 {
			t.Errorf("mounts left behind: %v", m)
		}
	})
	return s
}

// stagingLeft lists staging dirs in templates/.
func stagingLeft(t *testing.T, s *Storage) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.DataDir(), "templates", stagingPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newBtrfs makes a btrfs filesystem of sizeMiB on a loop file, mounts it
// and returns the mountpoint; cleanup unmounts it and frees the loop
// device. It skips where btrfs or its tools are missing.
func newBtrfs(t *testing.T, sizeMiB int64) string {
	t.Helper()
	requireRoot(t)
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\tbtrfs\n") {
		// Try to load the module once; /proc/filesystems lists it after.
		_ = exec.Command("modprobe", "btrfs").Run()
		b, _ = os.ReadFile("/proc/filesystems")
		if !strings.Contains(string(b), "\tbtrfs\n") {
			t.Skip("needs the btrfs filesystem (CONFIG_BTRFS_FS)")
		}
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("needs mkfs.btrfs (Debian package btrfs-progs, see hack/setup.sh)")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "btrfs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(sizeMiB << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if out, err := exec.Command("mkfs.btrfs", "-q", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dev, mnt, "btrfs", 0, ""); err != nil {
		t.Fatalf("mount btrfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			_ = unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}
