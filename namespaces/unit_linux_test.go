package namespaces

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSecureJoinStaysInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/etc", filepath.Join(root, "dev"))       // absolute: restarts at root
	os.Symlink("../../../..", filepath.Join(root, "up")) // climbs: stops at root
	os.Symlink("etc/../etc", filepath.Join(root, "rel")) // relative inside
	os.Symlink("loop", filepath.Join(root, "loop"))
	for in, want := range map[string]string{
		"/dev/null":          "/etc/null",
		"/up/proc":           "/proc",
		"/../../x":           "/x",
		"/rel/passwd":        "/etc/passwd",
		"/new/dir/not/there": "/new/dir/not/there",
	} {
		got, err := secureJoin(root, in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got != filepath.Join(root, want) {
			t.Errorf("secureJoin(%s) = %s, want %s", in, strings.TrimPrefix(got, root), want)
		}
	}
	if _, err := secureJoin(root, "/loop/x"); err == nil {
		t.Errorf("symlink loop resolved")
	}
}

func TestParseMountOptions(t *testing.T) {
	flags, data := parseMountOptions([]string{"ro", "nosuid", "rbind", "lowerdir=/a", "upperdir=/b", "rw"})
	if flags != unix.MS_NOSUID|unix.MS_BIND|unix.MS_REC {
		t.Errorf("flags = %#x", flags)
	}
	if data != "lowerdir=/a,upperdir=/b" {
		t.Errorf("data = %q", data)
	}
}

func TestDefaultCapabilities(t *testing.T) {
	caps := DefaultCapabilities()
	set, err := capSet(caps)
	if err != nil {
		t.Fatal(err)
	}
	for name := range droppedCaps {
		if set[capNumbers[name]] {
			t.Errorf("%s kept", name)
		}
	}
	for _, name := range []string{"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_NET_ADMIN", "CAP_SETUID"} {
		if !set[capNumbers[name]] {
			t.Errorf("%s dropped", name)
		}
	}
	if _, err := capSet([]string{"CAP_NOPE"}); err == nil {
		t.Errorf("unknown capability accepted")
	}
	if s, err := capSet([]string{"net_admin"}); err != nil || !s[12] {
		t.Errorf("short name: %v %v", s, err)
	}
	spec := DefaultSpec("z", "h", []string{"/sbin/init"})
	if spec.Hostname != "h" || spec.Process.Args[0] != "/sbin/init" || len(spec.Linux.MaskedPaths) == 0 {
		t.Errorf("spec = %+v", spec)
	}
}

func TestSealedBinaryIsSealed(t *testing.T) {
	p, err := SealedBinary()
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := SealedBinary(); p2 != p {
		t.Errorf("not memoized: %s then %s", p, p2)
	}
	fd, err := strconv.Atoi(filepath.Base(p))
	if err != nil {
		t.Fatal(err)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if seals&want != want {
		t.Errorf("seals = %#x, want %#x", seals, want)
	}
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		if werr == nil {
			t.Errorf("wrote into the sealed binary")
		}
	}
}
