package fsshare

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

var mtime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// entry is a tar entry for the test archives.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	body       string
	xattrs     map[string]string
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: mtime, Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// goodRoot is a small bootable root with every kind of entry we keep.
var goodRoot = []entry{
	{name: "./", typ: tar.TypeDir, mode: 0o755},
	{name: "bin/", typ: tar.TypeDir, mode: 0o755},
	{name: "bin/sh", typ: tar.TypeReg, mode: 0o755, body: "#!fake shell\n"},
	{name: "usr/sbin/", typ: tar.TypeDir, mode: 0o755},
	// merged /usr: sbin is a symlink, init lives below it.
	{name: "sbin", typ: tar.TypeSymlink, link: "usr/sbin"},
	{name: "usr/sbin/init", typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\necho INIT_VERSION\n"},
	{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: "root:x:0:0::/root:/bin/sh\n"},
	{name: "etc/shadow", typ: tar.TypeReg, mode: 0o640, uid: 0, gid: 42, body: "root:*:1::::::\n"},
	{name: "home/user/", typ: tar.TypeDir, mode: 0o750, uid: 1000, gid: 1000},
	{name: "home/user/file", typ: tar.TypeReg, mode: 0o600, uid: 1000, gid: 1000, body: "mine",
		xattrs: map[string]string{"user.zoned.test": "value", "trusted.zoned": "t"}},
	{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
	{name: "usr/bin/passwd", typ: tar.TypeReg, mode: 0o4755, body: "suid"},
	{name: "usr/bin/hard", typ: tar.TypeLink, link: "usr/bin/passwd"},
	// An absolute symlink is stored as is: it resolves inside the zone.
	{name: "etc/localtime", typ: tar.TypeSymlink, link: "/usr/share/zoneinfo/UTC"},
	{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
	{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
}

func TestImportTarRoundTrip(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	raw := makeTar(t, goodRoot)
	for _, c := range []struct {
		name string
		data []byte
	}{{"plain", raw}, {"gzip", gz(t, raw)}, {"zstd", zst(t, raw)}} {
		t.Run(c.name, func(t *testing.T) {
			name := "t-" + c.name
			last := -1
			err := s.ImportTar(context.Background(), name, bytes.NewReader(c.data), func(pc int, _ string) {
				if pc < last {
					t.Errorf("progress went back")
				}
				last = pc
			})
			if err != nil {
				t.Fatal(err)
			}
			root := s.TemplateRoot(name)
			check := func(p string, mode uint32, uid, gid uint32) {
				t.Helper()
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
					t.Errorf("%s: %v", p, err)
					return
				}
				if st.Mode&0o7777 != mode || st.Uid != uid || st.Gid != gid {
					t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", p, st.Mode&0o7777, st.Uid, st.Gid, mode, uid, gid)
				}
				if st.Mode&unix.S_IFMT != unix.S_IFLNK && p != "etc" && st.Mtim.Sec != mtime.Unix() {
					t.Errorf("%s: mtime %d, want %d", p, st.Mtim.Sec, mtime.Unix())
				}
			}
			check("", 0o755, 0, 0)
			check("etc/shadow", 0o640, 0, 42)
			check("home/user", 0o750, 1000, 1000)
			check("home/user/file", 0o600, 1000, 1000)
			check("usr/bin/passwd", 0o4755, 0, 0)
			check("tmp", 0o1777, 0, 0)
			check("run/fifo", 0o620, 0, 0)
			check("etc", 0o755, 0, 0) // implied directory
			if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); string(b) != "root:x:0:0::/root:/bin/sh\n" {
				t.Errorf("etc/passwd = %q", b)
			}
			var a, b unix.Stat_t
			unix.Stat(filepath.Join(root, "usr/bin/passwd"), &a)
			unix.Stat(filepath.Join(root, "usr/bin/hard"), &b)
			if a.Ino != b.Ino || a.Nlink != 2 {
				t.Errorf("hard link not kept: inodes %d %d nlink %d", a.Ino, b.Ino, a.Nlink)
			}
			if l, _ := os.Readlink(filepath.Join(root, "etc/localtime")); l != "/usr/share/zoneinfo/UTC" {
				t.Errorf("symlink target %q", l)
			}
			val := make([]byte, 64)
			if n, err := unix.Getxattr(filepath.Join(root, "home/user/file"), "user.zoned.test", val); err != nil || string(val[:n]) != "value" {
				t.Errorf("user xattr: %q %v", val[:n], err)
			}
			if n, err := unix.Getxattr(filepath.Join(root, "home/user/file"), "trusted.zoned", val); err != nil || string(val[:n]) != "t" {
				t.Errorf("trusted xattr: %q %v", val[:n], err)
			}
			info, err := s.DetectInit(name)
			if err != nil || info.Path != "/usr/sbin/init" || info.Kind != InitSysvinit || info.StopSignal != unix.SIGPWR {
				t.Errorf("DetectInit = %+v, %v", info, err)
			}
			if last != 100 {
				t.Errorf("final progress %d", last)
			}
			// writeTar + extract reproduce the tree (the debootstrap cache path).
			var re bytes.Buffer
			if err := writeTar(context.Background(), root, &re); err != nil {
				t.Fatal(err)
			}
			if err := s.ImportTar(context.Background(), name+"-again", &re, nil); err != nil {
				t.Fatalf("re-import of writeTar output: %v", err)
			}
			root2 := s.TemplateRoot(name + "-again")
			unix.Stat(filepath.Join(root2, "usr/bin/passwd"), &a)
			unix.Stat(filepath.Join(root2, "usr/bin/hard"), &b)
			if a.Ino != b.Ino || a.Mode&0o7777 != 0o4755 {
				t.Errorf("writeTar lost the hard link or set-uid bit")
			}
			if n, err := unix.Getxattr(filepath.Join(root2, "home/user/file"), "user.zoned.test", val); err != nil || string(val[:n]) != "value" {
				t.Errorf("writeTar lost the xattr: %v", err)
			}
		})
	}
	if left := stagingLeft(t, s); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
}

func TestImportTarRejects(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	outside := t.TempDir()
	init := entry{name: "sbin/init", typ: tar.TypeReg, mode: 0o755, body: "x"}
	good := makeTar(t, []entry{init, {name: "etc/a", typ: tar.TypeReg, body: "aaaa"}})
	truncGz := gz(t, good)
	truncGz = truncGz[:len(truncGz)/2]
	truncZst := zst(t, good)
	truncZst = truncZst[:len(truncZst)-6]
	cases := []struct {
		name    string
		data    []byte
		invalid bool
	}{
		{"dotdot", makeTar(t, []entry{init, {name: "../x", typ: tar.TypeReg, body: "evil"}}), true},
		{"abs-dotdot", makeTar(t, []entry{init, {name: "/abs/../../x", typ: tar.TypeReg, body: "evil"}}), true},
		// Absolute names are refused, not stripped (GNU tar writes them
		// only with -P).
		{"absolute", makeTar(t, []entry{init, {name: "/etc/a", typ: tar.TypeReg, body: "a"}}), true},
		{"absolute-dir", makeTar(t, []entry{{name: "/", typ: tar.TypeDir, mode: 0o755}, init}), true},
		{"absolute-hardlink", makeTar(t, []entry{init, {name: "h", typ: tar.TypeLink, link: "/sbin/init"}}), true},
		{"overlay-xattr", makeTar(t, []entry{init, {name: "etc/", typ: tar.TypeDir, mode: 0o755,
			xattrs: map[string]string{"trusted.overlay.redirect": "/root"}}}), true},
		{"long-name", makeTar(t, []entry{init, {name: strings.Repeat("d/", 140_000) + "f", typ: tar.TypeReg, body: "deep"}}), true},
		{"hardlink-escape", makeTar(t, []entry{init, {name: "h", typ: tar.TypeLink, link: "../../../etc/passwd"}}), true},
		{"hardlink-via-symlink", makeTar(t, []entry{init, {name: "l", typ: tar.TypeSymlink, link: "/etc"},
			{name: "h", typ: tar.TypeLink, link: "l/passwd"}}), true},
		{"symlink-parent", makeTar(t, []entry{init, {name: "l", typ: tar.TypeSymlink, link: "/"},
			{name: "l/etc/evil", typ: tar.TypeReg, body: "evil"}}), true},
		{"symlink-parent-outside", makeTar(t, []entry{init, {name: "l", typ: tar.TypeSymlink, link: outside},
			{name: "l/evil", typ: tar.TypeReg, body: "evil"}}), true},
		{"symlink-parent-dir", makeTar(t, []entry{init, {name: "l", typ: tar.TypeSymlink, link: outside},
			{name: "l/sub/", typ: tar.TypeDir, mode: 0o755}}), true},
		{"char-device", makeTar(t, []entry{init, {name: "dev/mem", typ: tar.TypeChar, mode: 0o666}}), true},
		{"truncated-gzip", truncGz, true},
		{"truncated-zstd", truncZst, true},
		{"truncated-tar", good[:700], true},
		{"garbage", []byte("this is not an archive at all, not even close......"), true},
		{"empty", nil, true},
		{"no-init", makeTar(t, []entry{{name: "etc/a", typ: tar.TypeReg, body: "a"}}), true},
		{"init-symlink-out", makeTar(t, []entry{{name: "sbin/init", typ: tar.TypeSymlink, link: "../../../../bin/sh"}}), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.ImportTar(context.Background(), "bad", bytes.NewReader(c.data), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.invalid && !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
			t.Logf("%v", err)
			if s.TemplateExists("bad") {
				t.Error("template left")
				s.DeleteTemplate("bad")
			}
			if left := stagingLeft(t, s); len(left) > 0 {
				t.Errorf("staging left: %v", left)
			}
			if entries, _ := os.ReadDir(outside); len(entries) > 0 {
				t.Errorf("archive wrote outside the root: %v", entries)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(s.DataDir(), "templates", "x")); err == nil {
		t.Error("an entry escaped into templates/")
	}
}

func TestImportTarDiskFull(t *testing.T) {
	requireRoot(t)
	// A small tmpfs as the data dir fills up halfway through the archive.
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("needs tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	s, err := New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	big := string(bytes.Repeat([]byte("x"), 600<<10))
	data := makeTar(t, []entry{
		{name: "sbin/init", typ: tar.TypeReg, mode: 0o755, body: "x"},
		{name: "a", typ: tar.TypeReg, body: big}, {name: "b", typ: tar.TypeReg, body: big},
	})
	err = s.ImportTar(context.Background(), "full", bytes.NewReader(data), nil)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	if errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a full disk is not the archive's fault: %v", err)
	}
	if s.TemplateExists("full") || len(stagingLeft(t, s)) > 0 {
		t.Error("template or staging left after a full disk")
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
}

func TestCleanupRemovesStaging(t *testing.T) {
	requireRoot(t)
	s := newTestStorage(t)
	// What a crash in the middle of a build leaves, with a mount in it
	// (debootstrap mounts /proc in its target).
	st, err := s.newStaging("crashed")
	if err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(st.Root, "proc")
	os.Mkdir(proc, 0o755)
	if err := unix.Mount("tmpfs", proc, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	if err := s.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if left := stagingLeft(t, s); len(left) > 0 {
		t.Fatalf("staging left: %v", left)
	}
}
