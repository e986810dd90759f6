package namespaces

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/internal/privmount"
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

// rootOptions builds the zone root m the way Spawn's two paths do (in the
// zone's init for a privileged zone; in the daemon, idmapped through a
// user namespace, for an unprivileged one), attaches it in a private
// mount namespace of the test's, and returns the superblock options the
// kernel shows for it.
func rootOptions(t *testing.T, m specs.Mount, userns bool) string {
	t.Helper()
	var opts string
	err := privmount.Do(func() error {
		if userns {
			fd, err := idmappedRootMount(m, testUserNS(t))
			if err != nil {
				return err
			}
			if err := attachRoot(fd, m.Destination); err != nil {
				return err
			}
		} else if err := mountRoot(m); err != nil {
			return err
		}
		defer unix.Unmount(m.Destination, unix.MNT_DETACH)
		data, err := os.ReadFile("/proc/thread-self/mountinfo")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == m.Destination {
				opts = f[len(f)-1]
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// testUserNS returns a descriptor of a fresh user namespace mapping
// 65536 IDs from 1<<24 (closed with the test).
func testUserNS(t *testing.T) int {
	t.Helper()
	bin, err := SealedBinary()
	if err != nil {
		t.Fatal(err)
	}
	stdin, hold, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	spec := DefaultSpec("userns", "userns", []string{"/bin/true"})
	SetUserNamespace(spec, 1<<24, 65536)
	attr := &syscall.SysProcAttr{}
	userNSAttr(attr, spec)
	cmd := &exec.Cmd{Path: bin, Args: []string{RoleUserNS}, Env: []string{}, Stdin: stdin, SysProcAttr: attr}
	if err := cmd.Start(); err != nil {
		t.Skipf("no user namespace: %v", err)
	}
	stdin.Close()
	t.Cleanup(func() { hold.Close(); _ = cmd.Wait() })
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestRootLayersByPathAreRelative: where the kernel takes overlay layers
// only by path (before 6.13; forced here), they are given relative to
// the zone's layer directory, so the zone's mountinfo still does not show
// where the data dir is. Both ways of building the root are checked.
func TestRootLayersByPathAreRelative(t *testing.T) {
	requireZones(t)
	for _, userns := range []bool{false, true} {
		t.Run(fmt.Sprintf("userns=%v", userns), func(t *testing.T) {
			if userns {
				if err := ProbeIDMappedRoot(&specs.Spec{Linux: &specs.Linux{
					UIDMappings: []specs.LinuxIDMapping{{HostID: 1 << 24, Size: 65536}},
					GIDMappings: []specs.LinuxIDMapping{{HostID: 1 << 24, Size: 65536}},
				}}, overlayRoot(t), ""); err != nil {
					t.Skipf("no idmapped overlay root here: %v", err)
				}
			}
			layersByPathOnly = true
			defer func() { layersByPathOnly = false }()
			m := overlayRoot(t)
			opts := rootOptions(t, m, userns)
			if !strings.Contains(opts, "upperdir=upper") || !strings.Contains(opts, "lowerdir=../") {
				t.Errorf("layers not relative to the layer directory: %s", opts)
			}
			if strings.Contains(opts, filepath.Dir(m.Destination)) || strings.Contains(opts, os.TempDir()) {
				t.Errorf("options name host paths: %s", opts)
			}
			// And by descriptor, where the kernel takes them.
			layersByPathOnly = false
			if opts := rootOptions(t, overlayRoot(t), userns); strings.Contains(opts, os.TempDir()) {
				t.Errorf("options name host paths: %s", opts)
			}
		})
	}
}
