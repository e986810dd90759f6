package namespaces

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRootMountinfoShowsNoHostPaths: the zone's root overlay is built from
// layer descriptors where the kernel takes them (6.13+), so the zone's
// mountinfo names its layers by zone-local paths, not by where the
// template and the layer are on the host.
func TestRootMountinfoShowsNoHostPaths(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil || major < 6 || major == 6 && minor < 13 {
		t.Skipf("kernel %s takes overlay layers only by path (descriptors need 6.13)", release)
	}
	z := startZone(t, sleepInit, nil)
	out := z.must(t, "cat", "/proc/self/mountinfo")
	var root string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			root = line
		}
	}
	for _, host := range []string{busyboxRoot, filepath.Dir(z.root)} {
		if strings.Contains(out, host) {
			t.Errorf("the zone's mountinfo shows the host path %s:\n%s", host, out)
		}
	}
	if !strings.Contains(root, "lowerdir+=/,upperdir=/upper,workdir=/work") {
		t.Errorf("root mount %q, want layers lowerdir+=/, upperdir=/upper, workdir=/work", root)
	}
}
