package fsshare

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

const (
	deepDepth = 100 // of 200-byte names: 20 KB of path, five times PATH_MAX
	deepBody  = "at the bottom"
)

var deepName = strings.Repeat("d", 200)

// makeDeepTree nests deepDepth directories below dir with mkdirat, as a
// zone's root can, and puts at the bottom a file and a symlink to outside
// (which a walk must store as a link, never follow). dir gets a symlink to
// outside too.
func makeDeepTree(t *testing.T, dir, outside string) {
	t.Helper()
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	fd := nest(t, dir, deepName, deepDepth)
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "bottom", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte(deepBody))
	unix.Fchown(f, 1000, 1001)
	unix.Close(f)
	if err := unix.Symlinkat(outside, fd, "escape"); err != nil {
		t.Fatal(err)
	}
	if err := unix.UtimesNanoAt(fd, "", deepTimes, unix.AT_EMPTY_PATH); err != nil {
		t.Fatal(err)
	}
}

// nest makes n directories called name below dir, each in the last, with
// mkdirat (their path soon exceeds PATH_MAX), and returns the last open.
func nest(t *testing.T, dir, name string, n int) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	return fd
}

// deepTimes are the deepest directory's access and modification times.
var deepTimes = []unix.Timespec{{Sec: 981173106, Nsec: 7000}, {Sec: 981173106, Nsec: 7000}}

// checkDeepTree checks what makeDeepTree made below dir, with owners
// shifted by shift, and that the symlinks stayed links.
func checkDeepTree(t *testing.T, dir string, shift int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < deepDepth; i++ {
		next, err := unix.Openat(fd, deepName, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("directory %d of the deep tree: %v", i+1, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	var dst unix.Stat_t
	if err := unix.Fstat(fd, &dst); err != nil || dst.Mtim != deepTimes[1] {
		t.Errorf("the deepest directory's mtime %v %v, want %v", dst.Mtim, err, deepTimes[1])
	}
	f, err := unix.Openat(fd, "bottom", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("the deep file: %v", err)
	}
	buf := make([]byte, 100)
	n, _ := unix.Read(f, buf)
	var st unix.Stat_t
	unix.Fstat(f, &st)
	unix.Close(f)
	if string(buf[:n]) != deepBody || st.Mode&0o7777 != 0o640 || int(st.Uid) != 1000+shift || int(st.Gid) != 1001+shift {
		t.Errorf("the deep file: %q mode %o owner %d:%d, want %q 640 %d:%d", buf[:n], st.Mode&0o7777, st.Uid, st.Gid, deepBody, 1000+shift, 1001+shift)
	}
	for _, at := range []struct {
		fd   int
		name string
	}{{fd, "escape"}, {unix.AT_FDCWD, filepath.Join(dir, "escape")}} {
		if err := unix.Fstatat(at.fd, at.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("%s: %v, mode %o; want the symlink kept as a link", at.name, err, st.Mode)
		}
	}
}

// outsideDir is a directory the deep tree's symlinks point to, with a
// file a walk that followed them would copy or change.
func outsideDir(t *testing.T) string {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "host-secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return outside
}

func checkOutsideUntouched(t *testing.T, outside string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(outside, "host-secret"), &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o600 {
		t.Errorf("the host file a symlink names: %v owner %d mode %o, want untouched", err, st.Uid, st.Mode&0o777)
	}
}

// TestCopyTreeDeeperThanPathMax: a clone or snapshot copies a zone's tree
// deeper than PATH_MAX (cp -a failed with "File name too long"), with few
// descriptors, its symlinks as links; owners then shift through it.
func TestCopyTreeDeeperThanPathMax(t *testing.T) {
	requireRoot(t)
	outside := outsideDir(t)
	src := t.TempDir()
	makeDeepTree(t, src, outside)
	defer func() { walkOpenMax = 64 }()
	for _, max := range []int{64, 3} {
		walkOpenMax = max
		dst := t.TempDir()
		if err := copyTree(src, dst); err != nil {
			t.Fatalf("copy with %d open directories: %v", max, err)
		}
		checkDeepTree(t, dst, 0)
		if err := shiftOwners(dst, 0, 100000); err != nil {
			t.Fatalf("shift owners with %d open directories: %v", max, err)
		}
		checkDeepTree(t, dst, 100000)
		if _, err := os.Lstat(filepath.Join(dst, "host-secret")); err == nil {
			t.Errorf("the copy followed the root's symlink to outside")
		}
	}
	checkOutsideUntouched(t, outside)
}

// TestExportTarDeeperThanPathMax: an export of a tree deeper than PATH_MAX
// is written (the path walk failed) with its symlinks as links, and
// imports again (names up to PATH_MAX were refused).
func TestExportTarDeeperThanPathMax(t *testing.T) {
	requireRoot(t)
	outside := outsideDir(t)
	src := t.TempDir()
	makeDeepTree(t, src, outside)
	defer func() { walkOpenMax = 64 }()
	walkOpenMax = 3
	var buf bytes.Buffer
	if err := writeTar(context.Background(), src, &buf); err != nil {
		t.Fatalf("archive a tree %d deep: %v", deepDepth, err)
	}
	if bytes.Contains(buf.Bytes(), []byte("secret")) {
		t.Errorf("the archive holds the host file a symlink names")
	}
	dst := t.TempDir()
	x, err := newExtractor(dst, DefaultImportLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	if err := x.extractStream(context.Background(), &buf, func() {}); err != nil {
		t.Fatalf("extract the archive of a deep tree: %v", err)
	}
	if err := x.finish(); err != nil {
		t.Fatal(err)
	}
	checkDeepTree(t, dst, 0)
	checkOutsideUntouched(t, outside)
}

// TestCopyTreeKeepsAttributes: what cp -a kept, the descriptor copy keeps:
// owners, modes (set-id bits too), times, xattrs (security.capability and
// overlay's trusted.* among them), hard links, fifos, sockets, device
// nodes (overlay's whiteouts) and holes.
func TestCopyTreeKeepsAttributes(t *testing.T) {
	requireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustDo(os.MkdirAll(filepath.Join(src, "dir/sub"), 0o755))
	mustDo(os.WriteFile(filepath.Join(src, "dir/ping"), []byte("ping"), 0o755))
	mustDo(os.Chown(filepath.Join(src, "dir/ping"), 7, 8))
	mustDo(os.Chmod(filepath.Join(src, "dir/ping"), 0o4755))
	// A v2 file capability: cap_net_raw permitted and effective.
	caps := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	mustDo(unix.Setxattr(filepath.Join(src, "dir/ping"), "security.capability", caps, 0))
	mustDo(unix.Setxattr(filepath.Join(src, "dir/ping"), "user.note", []byte("kept"), 0))
	mustDo(unix.Setxattr(filepath.Join(src, "dir/sub"), "trusted.overlay.opaque", []byte("y"), 0))
	mustDo(os.Link(filepath.Join(src, "dir/ping"), filepath.Join(src, "dir/sub/ping-again")))
	mustDo(unix.Mkfifo(filepath.Join(src, "fifo"), 0o620))
	mustDo(unix.Mknod(filepath.Join(src, "sock"), unix.S_IFSOCK|0o600, 0))
	mustDo(unix.Mknod(filepath.Join(src, "whiteout"), unix.S_IFCHR, 0))
	mustDo(os.Symlink("/etc/passwd", filepath.Join(src, "dir/link")))
	mustDo(unix.Lchown(filepath.Join(src, "dir/link"), 3, 4))
	sparse, err := os.Create(filepath.Join(src, "sparse"))
	mustDo(err)
	_, err = sparse.WriteAt([]byte("data"), 8<<20)
	mustDo(err)
	mustDo(sparse.Close())
	old := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	for _, p := range []string{"dir/ping", "dir/sub", "dir", "fifo", "sparse"} {
		mustDo(os.Chtimes(filepath.Join(src, p), old, old))
	}
	mustDo(copyTree(src, dst))

	var st, want unix.Stat_t
	for _, p := range []string{"dir", "dir/sub", "dir/ping", "dir/link", "fifo", "sock", "whiteout", "sparse"} {
		mustDo(unix.Lstat(filepath.Join(src, p), &want))
		if err := unix.Lstat(filepath.Join(dst, p), &st); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if st.Mode != want.Mode || st.Uid != want.Uid || st.Gid != want.Gid || st.Rdev != want.Rdev || st.Size != want.Size {
			t.Errorf("%s: mode %o owner %d:%d rdev %d size %d, want %o %d:%d %d %d", p, st.Mode, st.Uid, st.Gid, st.Rdev, st.Size, want.Mode, want.Uid, want.Gid, want.Rdev, want.Size)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&unix.S_IFMT != unix.S_IFSOCK && st.Mode&unix.S_IFMT != unix.S_IFCHR && st.Mtim != want.Mtim {
			t.Errorf("%s: mtime %v, want %v", p, st.Mtim, want.Mtim)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst, "dir/link")); err != nil || target != "/etc/passwd" {
		t.Errorf("symlink: %q %v", target, err)
	}
	var a, b unix.Stat_t
	mustDo(unix.Lstat(filepath.Join(dst, "dir/ping"), &a))
	mustDo(unix.Lstat(filepath.Join(dst, "dir/sub/ping-again"), &b))
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard links: inodes %d and %d, %d links; want one inode with 2", a.Ino, b.Ino, a.Nlink)
	}
	for _, x := range []struct{ p, attr, want string }{
		{"dir/ping", "security.capability", string(caps)},
		{"dir/ping", "user.note", "kept"},
		{"dir/sub", "trusted.overlay.opaque", "y"},
	} {
		v := make([]byte, 64)
		n, err := unix.Lgetxattr(filepath.Join(dst, x.p), x.attr, v)
		if err != nil || string(v[:n]) != x.want {
			t.Errorf("%s xattr %s: %q %v, want %q", x.p, x.attr, v[:max(n, 0)], err, x.want)
		}
	}
	mustDo(unix.Lstat(filepath.Join(dst, "sparse"), &st))
	if st.Blocks*512 > 1<<20 {
		t.Errorf("the sparse file's copy takes %d bytes on disk, want its hole kept", st.Blocks*512)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "sparse")); err != nil || len(data) != 8<<20+4 || string(data[8<<20:]) != "data" {
		t.Errorf("the sparse file's copy: %d bytes, %v", len(data), err)
	}
	// The walk also archives the same tree, whiteout and all.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mustDo(walkTar(context.Background(), src, tw, walkOpts{overlay: true}))
	mustDo(tw.Close())
	names := map[string]bool{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names[hdr.Name] = true
	}
	for _, n := range []string{"./", "dir/", "dir/ping", "dir/sub/ping-again", "dir/link", "fifo", ".wh.whiteout", "dir/sub/.wh..wh..opq", "sparse"} {
		if !names[n] {
			t.Errorf("archive lacks %q (has %v)", n, names)
		}
	}
}

// TestRemoveTreeDeeperThanDescriptorLimit: a tree nested deeper than the
// daemon may open descriptors is still removed (os.RemoveAll holds one per
// level and fails with EMFILE), symlinks removed, never followed.
func TestRemoveTreeDeeperThanDescriptorLimit(t *testing.T) {
	requireRoot(t)
	outside := outsideDir(t)
	dir := filepath.Join(t.TempDir(), "zone")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	makeDeepTree(t, dir, outside)
	unix.Close(nest(t, dir, "x", 1000))
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = 500
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	err := removeTree(dir)
	unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	if err != nil {
		t.Fatalf("remove a tree 1000 deep with 500 descriptors: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dir, err)
	}
	checkOutsideUntouched(t, outside)
	if err := removeTree(dir); err != nil {
		t.Errorf("remove a missing tree: %v", err)
	}
}

// TestBtrfsExclusiveBytesDeeperThanPathMax: a btrfs zone's usage is
// counted as `btrfs filesystem du` counts it (reflinked extents shared,
// hard links once), and still on a tree deeper than PATH_MAX, where
// btrfs-progs fails with "path too long".
func TestBtrfsExclusiveBytesDeeperThanPathMax(t *testing.T) {
	mnt := newBtrfs(t, 300)
	dir := filepath.Join(mnt, "zone")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "own"), bytes.Repeat([]byte("o"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "template-file"), bytes.Repeat([]byte("t"), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(mnt, "template-file"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "reflinked"))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		t.Fatal(err)
	}
	in.Close()
	out.Close()
	if err := os.Link(filepath.Join(dir, "own"), filepath.Join(dir, "own-again")); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(mnt); err != nil {
		t.Fatal(err)
	}
	progs := func() (int64, error) {
		out, err := exec.Command("btrfs", "filesystem", "du", "-s", "--raw", dir).Output()
		if err != nil {
			return 0, err
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		f := strings.Fields(lines[len(lines)-1])
		return strconv.ParseInt(f[1], 10, 64)
	}
	want, err := progs()
	if err != nil {
		t.Fatalf("btrfs filesystem du: %v", err)
	}
	got, err := btrfsExclusiveBytes(dir)
	if err != nil || got != want || got < 1<<20 || got >= 2<<20 {
		t.Fatalf("exclusive bytes %d %v; btrfs filesystem du says %d, want 1 MiB (the own file once, not the reflink)", got, err, want)
	}
	makeDeepTree(t, dir, t.TempDir())
	if err := syncDir(mnt); err != nil {
		t.Fatal(err)
	}
	if _, err := progs(); err == nil {
		t.Log("btrfs filesystem du now counts trees deeper than PATH_MAX")
	}
	if got, err := btrfsExclusiveBytes(dir); err != nil || got < want {
		t.Errorf("exclusive bytes of a tree %d deep: %d %v, want at least %d", deepDepth, got, err, want)
	}
}

// TestExportRefusesNamesPastTheImportCap: a tree nested past the names an
// import takes (maxEntryPath) is refused by the export with a clear error,
// rather than written as an archive no import accepts.
func TestExportRefusesNamesPastTheImportCap(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	unix.Close(nest(t, dir, deepName, maxEntryPath/(len(deepName)+1)+1))
	err := writeTar(context.Background(), dir, io.Discard)
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "cannot be imported again") {
		t.Fatalf("archive a tree nested past %d bytes of name: %v, want ErrUnsupported saying it cannot be imported again", maxEntryPath, err)
	}
	if len(err.Error()) > 1024 {
		t.Errorf("the error is %d bytes long; want the name shortened", len(err.Error()))
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
}
