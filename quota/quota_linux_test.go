package quota

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: quotas mount filesystems and set limits")
	}
}

func requireTool(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("needs %s (Debian package %s; hack/setup.sh installs it)", tool, pkg)
	}
}

// fill writes n bytes of non-zero data to path and returns the error of
// the first write that failed, after syncing so delayed allocation cannot
// hide it.
func fill(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0x5a}, 1<<20)
	for n > 0 {
		k := int64(len(buf))
		if n < k {
			k = n
		}
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return f.Sync()
}

func isQuotaErr(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// loopsOf lists loop devices backed by img.
func loopsOf(t *testing.T, img string) []string {
	t.Helper()
	var out []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.TrimSpace(string(b)) == img {
			out = append(out, f)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	for _, l := range []Limits{{Bytes: -1}, {Inodes: -5, Bytes: 1 << 30}, {Inodes: 100}, {Bytes: 1 << 30, Inodes: 1 << 33}} {
		if err := Validate(l); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", l, err)
		}
	}
	if err := Validate(Limits{Bytes: 1 << 30, Inodes: 1000}); err != nil {
		t.Errorf("Validate(valid) = %v", err)
	}
}

// testImageBackend is an image backend keeping its images in a test
// directory, and the zone directory it is to cap there; it skips where
// images cannot be made.
func testImageBackend(t *testing.T) (imageBackend, string) {
	t.Helper()
	requireRoot(t)
	requireTool(t, "mkfs.ext4", "e2fsprogs")
	base := t.TempDir()
	return imageBackend{dir: filepath.Join(base, "disks")}, filepath.Join(base, "zone")
}

func TestImageQuotaEnforcedGrowsAndLeavesNothing(t *testing.T) {
	b, dir := testImageBackend(t)
	if err := b.Make(dir, Limits{Bytes: 8 << 20}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("Make below the minimum = %v, want ErrInvalid", err)
	}
	if err := b.Make(dir, Limits{Bytes: 64 << 20, Inodes: 2000}); err != nil {
		t.Fatal(err)
	}
	img := b.imagePath(dir)
	t.Cleanup(func() { _ = b.Remove(dir) })
	if err := b.Make(dir, Limits{Bytes: 64 << 20}); err == nil {
		t.Fatal("Make on an existing dir succeeded")
	}
	if err := fill(filepath.Join(dir, "big"), 100<<20); !isQuotaErr(err) {
		t.Fatalf("writing 100 MiB under a 64 MiB image: %v, want ENOSPC", err)
	}
	u, err := b.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes < 50<<20 || u.LimitBytes != 64<<20 || u.LimitInodes < 1500 || u.LimitInodes > 4096 {
		t.Fatalf("usage after filling: %+v", u)
	}
	// The host file holds no more than the cap.
	var st unix.Stat_t
	if err := unix.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 64<<20 {
		t.Fatalf("image takes %d bytes on the host, above its 64 MiB", st.Blocks*512)
	}
	// Shrinking below use is refused and says the use.
	err = b.SetLimits(dir, Limits{Bytes: 40 << 20}, false)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("shrink below use = %v, want ErrConflict naming the use", err)
	}
	// Grow online, while mounted: the write that failed now fits.
	if err := b.SetLimits(dir, Limits{Bytes: 160 << 20}, false); err != nil {
		t.Fatal(err)
	}
	if err := fill(filepath.Join(dir, "more"), 60<<20); err != nil {
		t.Fatalf("write after growing: %v", err)
	}
	if u, _ := b.Usage(dir); u.LimitBytes != 160<<20 {
		t.Fatalf("limit after grow = %d", u.LimitBytes)
	}
	// Inodes are capped too.
	var ierr error
	for i := 0; i < 5000 && ierr == nil; i++ {
		ierr = os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))+strings.Repeat("x", i/26)), nil, 0o644)
	}
	if !isQuotaErr(ierr) {
		t.Fatalf("creating 5000 files under ~2000 inodes: %v, want ENOSPC", ierr)
	}
	if err := b.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left after Remove: %v", err)
	}
	if _, err := os.Stat(img); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("image left after Remove: %v", err)
	}
	if l := loopsOf(t, img); len(l) != 0 {
		t.Fatalf("loop devices left after Remove: %v", l)
	}
}

func TestImageReattachAfterReboot(t *testing.T) {
	b, dir := testImageBackend(t)
	if err := b.Make(dir, Limits{Bytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("yes"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reboot loses the mount and the loop device.
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	// The kernel detaches an autoclear loop device when its last user
	// goes, from a work queue on recent kernels: wait for it (a loaded
	// machine took more than the unmount's return once), but not forever.
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if left = loopsOf(t, b.imagePath(dir)); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) != 0 {
		t.Fatalf("autoclear left loop devices 10s after unmount: %v", left)
	}
	if err := b.Attach(dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Attach(dir); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "kept")); err != nil || string(got) != "yes" {
		t.Fatalf("file after re-attach: %q, %v", got, err)
	}
	if src, _ := mountSource(dir); !strings.HasPrefix(src, "/dev/loop") {
		t.Fatalf("mount source after Attach = %q", src)
	}
}

// A sparse write far past the cap takes only the blocks written, and the
// cap still holds for what follows: no way around it by seeking.
func TestImageSparseFilesStayUnderCap(t *testing.T) {
	b, dir := testImageBackend(t)
	if err := b.Make(dir, Limits{Bytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Remove(dir) })
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, 1<<20), 100<<30); err != nil {
		t.Fatalf("write at 100 GiB: %v", err)
	}
	f.Close()
	if err := fill(filepath.Join(dir, "sparse"), 200<<20); !isQuotaErr(err) {
		t.Fatalf("appending 200 MiB after a sparse write: %v, want ENOSPC", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(b.imagePath(dir), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 64<<20 {
		t.Fatalf("image takes %d bytes on the host, above its 64 MiB", st.Blocks*512)
	}
}

// btrfsFS makes a btrfs filesystem on a loop device for one test.
func btrfsFS(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	requireTool(t, "mkfs.btrfs", "btrfs-progs")
	base := t.TempDir()
	img := filepath.Join(base, "btrfs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 512<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.btrfs", "-q", "-f", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	dev, lf, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Mount(dev, mnt, "btrfs", 0, ""); err != nil {
		t.Skipf("cannot mount btrfs (CONFIG_BTRFS_FS): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount btrfs: %v", err)
		}
	})
	return mnt
}

func TestDetect(t *testing.T) {
	mnt := btrfsFS(t)
	if name, err := Detect(mnt); err != nil || name != BtrfsQgroup {
		t.Fatalf("Detect(btrfs) = %q, %v", name, err)
	}
	tmp := t.TempDir()
	name, err := Detect(tmp)
	if err != nil {
		t.Fatal(err)
	}
	want := Image
	if projectQuotaOn(tmp) {
		want = Project
	}
	if name != want {
		t.Fatalf("Detect(%s) = %q, want %q", tmp, name, want)
	}
}

func TestBtrfsQgroupEnforcedAndEscapesFail(t *testing.T) {
	mnt := btrfsFS(t)
	b := btrfsBackend{}
	if err := b.Make(filepath.Join(mnt, "x"), Limits{Bytes: 1 << 20, Inodes: 5}); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("inode cap on btrfs = %v, want ErrUnsupported", err)
	}
	dir := filepath.Join(mnt, "zone")
	if err := b.Make(dir, Limits{Bytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Remove(dir) })
	if err := fill(filepath.Join(dir, "big"), 40<<20); !isQuotaErr(err) {
		t.Fatalf("writing 40 MiB under a 16 MiB qgroup: %v, want EDQUOT", err)
	}
	u, err := b.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.LimitBytes != 16<<20 || u.Bytes < 8<<20 || u.Bytes > 17<<20 {
		t.Fatalf("usage after filling: %+v", u)
	}
	err = b.SetLimits(dir, Limits{Bytes: 1 << 20}, false)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("shrink below use = %v, want ErrConflict naming the use", err)
	}
	if err := os.Remove(filepath.Join(dir, "big")); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLimits(dir, Limits{Bytes: 64 << 20}, false); err != nil {
		t.Fatal(err)
	}
	if err := fill(filepath.Join(dir, "big"), 40<<20); err != nil {
		t.Fatalf("write after growing: %v", err)
	}
	// The stats' reader (sysfs counters, no commit) agrees with Usage
	// (btrfs-progs after a commit) on the grown limit and the 40 MiB.
	r := NewUsageReader(b, dir)
	defer r.Close()
	fast, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if u, err = b.Usage(dir); err != nil {
		t.Fatal(err)
	}
	if fast.LimitBytes != 64<<20 || fast.Bytes < 40<<20 || fast.Bytes > u.Bytes+(1<<20) || fast.Bytes < u.Bytes-(1<<20) {
		t.Errorf("stats reader: %+v, Usage: %+v", fast, u)
	}
	// Files outside the subvolume cannot be hard linked or renamed in,
	// where they would escape the count.
	outside := filepath.Join(mnt, "outside")
	if err := fill(outside, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dir, "link")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("hard link into the quota dir: %v, want EXDEV", err)
	}
	if err := os.Rename(outside, filepath.Join(dir, "moved")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename into the quota dir: %v, want EXDEV", err)
	}
	// A sparse write far out takes only what it writes.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 1<<40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := fill(filepath.Join(dir, "big2"), 40<<20); !isQuotaErr(err) {
		t.Fatalf("writing past the grown cap after a sparse write: %v, want EDQUOT", err)
	}
	q, _, err := qgroupOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("subvolume left after Remove: %v", err)
	}
	out, _ := btrfs("qgroup", "show", mnt)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == q {
			t.Fatalf("qgroup %s left after Remove:\n%s", q, out)
		}
	}
}

// projectFS makes a filesystem with project quotas on (ext4 with the
// project and quota features mounted prjquota, or XFS mounted prjquota) on
// a loop device for one test, or skips naming what the kernel lacks.
func projectFS(t *testing.T, fstype string) string {
	t.Helper()
	requireRoot(t)
	mkfs := map[string][]string{
		"ext4": {"mkfs.ext4", "-q", "-F", "-I", "256", "-O", "quota,project"},
		"xfs":  {"mkfs.xfs", "-q", "-f"},
	}[fstype]
	requireTool(t, mkfs[0], map[string]string{"ext4": "e2fsprogs", "xfs": "xfsprogs"}[fstype])
	base := t.TempDir()
	img := filepath.Join(base, fstype+".img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 512<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs[0], append(mkfs[1:], img)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", mkfs[0], err, out)
	}
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	dev, lf, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	missing := map[string]string{"ext4": "CONFIG_QUOTA and CONFIG_QFMT_V2", "xfs": "CONFIG_XFS_FS and CONFIG_XFS_QUOTA"}[fstype]
	if err := unix.Mount(dev, mnt, fstype, 0, "prjquota"); err != nil {
		t.Skipf("cannot mount %s with prjquota (kernel lacks %s?): %v; the stock-kernel lane runs this test", fstype, missing, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", fstype, err)
		}
	})
	if !projectQuotaOn(mnt) {
		t.Skipf("%s mounted prjquota accounts no project quota (kernel lacks %s); the stock-kernel lane runs this test", fstype, missing)
	}
	return mnt
}

// withoutSysResource runs a command as root without CAP_SYS_RESOURCE.
func withoutSysResource(args ...string) (string, error) {
	out, err := exec.Command("setpriv", append([]string{"--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// quotaMessage tells whether a tool's error says EDQUOT or ENOSPC (XFS
// answers a full project with ENOSPC, as a full filesystem).
func quotaMessage(out string) bool {
	return strings.Contains(out, "quota exceeded") || strings.Contains(out, "No space left")
}

func testProjectQuota(t *testing.T, fstype string) {
	mnt := projectFS(t, fstype)
	if name, err := Detect(mnt); err != nil || name != Project {
		t.Fatalf("Detect(%s with prjquota) = %q, %v", fstype, name, err)
	}
	b := projectBackend{}
	dir := filepath.Join(mnt, "zone")
	if err := b.Make(dir, Limits{Bytes: 16 << 20, Inodes: 100}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Remove(dir) })
	// Subdirectories inherit the project: a zone's whole tree counts.
	sub := filepath.Join(dir, "upper", "var")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// The kernel warns of the hit over netlink, keyed as the probe says.
	p, err := NewProbe(NewUsageReader(b, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	wantFill(t, p, Clear, "empty project")
	hits := make(chan Warning, 100)
	w, err := WatchWarnings(func(wn Warning) {
		if wn.Key == p.Key && wn.Refused() {
			hits <- wn
		}
	})
	if err != nil {
		t.Fatalf("quota warnings (Debian's kernel has CONFIG_QUOTA_NETLINK_INTERFACE): %v", err)
	}
	defer w.Close()
	// As a zone's root does, without CAP_SYS_RESOURCE, which lets ext4
	// (not XFS) ignore quota limits.
	if out, err := withoutSysResource("dd", "if=/dev/zero", "of="+filepath.Join(sub, "big"), "bs=1M", "count=40", "conv=fsync"); err == nil || !quotaMessage(out) {
		t.Fatalf("writing 40 MiB under a 16 MiB project quota: %v: %s", err, out)
	}
	select {
	case wn := <-hits:
		if wn.Kind != quotaNlBHardWarn {
			t.Errorf("warning of a refused write: kind %d, want BHARDWARN", wn.Kind)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no quota warning for project %+v after a refused write", p.Key)
	}
	wantFill(t, p, Full, "after a refused write")
	u, err := b.Usage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.LimitBytes != 16<<20 || u.Bytes < 8<<20 || u.Bytes > 17<<20 || u.LimitInodes != 100 {
		t.Fatalf("usage after filling: %+v", u)
	}
	err = b.SetLimits(dir, Limits{Bytes: 1 << 20}, true)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("shrink below use = %v, want ErrConflict naming the use", err)
	}
	if err := b.SetLimits(dir, Limits{Bytes: 64 << 20, Inodes: 100}, true); err != nil {
		t.Fatal(err)
	}
	if err := fill(filepath.Join(sub, "more"), 20<<20); err != nil {
		t.Fatalf("write after growing: %v", err)
	}
	// Files of another project cannot be linked or renamed in.
	outside := filepath.Join(mnt, "outside")
	if err := fill(outside, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(sub, "link")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("hard link into the project: %v, want EXDEV", err)
	}
	if err := os.Rename(outside, filepath.Join(sub, "moved")); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename into the project: %v, want EXDEV", err)
	}
	// Inodes are capped.
	if out, err := withoutSysResource("sh", "-c", "cd "+sub+" && for i in $(seq 200); do : > f$i || exit 1; done"); err == nil || !quotaMessage(out) {
		t.Fatalf("creating 200 files under 100 inodes: %v: %s", err, out)
	}
	if err := b.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir left after Remove: %v", err)
	}
}

func TestProjectQuotaExt4(t *testing.T) { testProjectQuota(t, "ext4") }
func TestProjectQuotaXFS(t *testing.T)  { testProjectQuota(t, "xfs") }
