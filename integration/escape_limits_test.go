//go:build linux

package integration

// Storms of kernel objects a zone's memory limit does not pay for: cgroups
// below its own, namespaces, inotify instances. Each storm runs in an
// unprivileged zone against a daemon started with small bounds, so it is
// quick, and must stop exactly at the bound with the kernel's errno for
// that limit. The helper removes what it made (directories) or holds it
// only while it runs (namespaces, mounts, inotify instances).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/zoned-project/zoned/api"
)

// storm runs a storm subcommand of the escape helper in zone and returns
// its errno word and how many objects it made.
func (d *daemon) storm(zone string, args ...string) (string, int) {
	d.t.Helper()
	f := strings.Fields(d.try(zone, args...))
	if len(f) != 2 {
		d.t.Fatalf("escape %v: answer %q, want WORD COUNT", args, f)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		d.t.Fatalf("escape %v: count %q: %v", args, f[1], err)
	}
	return f[0], n
}

// TestEscapeCgroupStorm: a zone's root makes groups below its own until
// the kernel refuses. cgroup.max.descendants stops it at the bound with
// EAGAIN, on v2 and in a hybrid host's unified tree; a hybrid host's
// name=systemd hierarchy, which no limit could bound, is not the zone's
// to write at all.
func TestEscapeCgroupStorm(t *testing.T) {
	const bound = 20
	d := startDaemonWith(t, []string{"-zone-cgroups-max", strconv.Itoa(bound), "-zone-cgroup-depth-max", "3"})
	d.createEscapeZoneAs(t, "storm", api.Resources{}, false)
	tree := "/sys/fs/cgroup"
	if !isUnified() {
		var st syscall.Statfs_t
		if syscall.Statfs("/sys/fs/cgroup/unified", &st) != nil || st.Type != 0x63677270 {
			t.Skip("a legacy cgroup v1 host has no cgroup2 tree: nothing bounds a zone's groups there (docs/security.md)")
		}
		tree = "/sys/fs/cgroup/unified"
		if word, n := d.storm("storm", "mkdirs", "/sys/fs/cgroup/systemd", "5"); word != "EACCES" || n != 0 {
			t.Errorf("mkdir in name=systemd: %s after %d, want EACCES after 0 (not delegated on a hybrid host)", word, n)
		}
	}
	if word, n := d.storm("storm", "mkdirs", tree, strconv.Itoa(bound+5)); word != "EAGAIN" || n != bound {
		t.Errorf("mkdir storm in %s: %s after %d groups, want EAGAIN after %d (cgroup.max.descendants)", tree, word, n, bound)
	}
	// The helper removed its groups: the zone gets its full allowance back.
	if word, n := d.storm("storm", "mkdirs", tree, strconv.Itoa(bound)); word != "OK" || n != bound {
		t.Errorf("second storm: %s after %d, want OK after %d (the first one's groups are gone)", word, n, bound)
	}
	// The bound is root's file: the zone can neither write nor chmod it.
	for _, f := range []string{"cgroup.max.descendants", "cgroup.max.depth"} {
		if got := d.try("storm", "openw", tree+"/"+f); got != "EACCES" && got != "EPERM" && got != "EROFS" {
			t.Errorf("open %s/%s for writing: %s, want EACCES (not delegated)", tree, f, got)
		}
	}
	if got := strings.TrimSpace(d.cgroupFile("storm", "unified", "cgroup.max.descendants")); got != strconv.Itoa(bound) {
		t.Errorf("cgroup.max.descendants on the host is %q, want %d", got, bound)
	}
}

// TestEscapeNamespaceStorm: a zone's root holds namespaces and inotify
// instances until the kernel refuses. The maxima zoned wrote in the zone's
// user namespace stop it with ENOSPC (namespaces) and EMFILE (inotify),
// counting what the zone already holds, and the zone cannot raise them.
func TestEscapeNamespaceStorm(t *testing.T) {
	const mnt, net, ino = 12, 6, 10
	d := startDaemonWith(t, []string{
		"-zone-userns-limit", "max_mnt_namespaces=" + strconv.Itoa(mnt),
		"-zone-userns-limit", "max_net_namespaces=" + strconv.Itoa(net),
		"-zone-userns-limit", "max_inotify_instances=" + strconv.Itoa(ino),
	})
	d.createEscapeZoneAs(t, "nsstorm", api.Resources{}, false)
	// The zone's own namespaces, made for it under its root's host ID
	// (owner_linux.go), count for that ID: one of each is taken.
	for _, c := range []struct {
		kind  string
		bound int
		errno string
	}{{"mnt", mnt, "ENOSPC"}, {"net", net, "ENOSPC"}} {
		if word, n := d.storm("nsstorm", "unshare", c.kind, strconv.Itoa(c.bound+5)); word != c.errno || n != c.bound-1 {
			t.Errorf("%s namespace storm: %s after %d, want %s after %d (max_%s_namespaces, less the zone's own)", c.kind, word, n, c.errno, c.bound-1, c.kind)
		}
	}
	if word, n := d.storm("nsstorm", "inotify", strconv.Itoa(ino+5)); word != "EMFILE" || n != ino {
		t.Errorf("inotify storm: %s after %d, want EMFILE after %d (max_inotify_instances)", word, n, ino)
	}
	// The maxima are the zone's to read, not to raise: no
	// CAP_SYS_RESOURCE in its user namespace.
	if got := d.try("nsstorm", "read", "/proc/sys/user/max_mnt_namespaces"); got != `OK "12\n"` {
		t.Errorf("read max_mnt_namespaces in the zone: %s, want 12", got)
	}
	if got := d.try("nsstorm", "openw", "/proc/sys/user/max_mnt_namespaces"); got != "EACCES" && got != "EROFS" {
		t.Errorf("open max_mnt_namespaces for writing: %s, want EACCES", got)
	}
	d.mustExec("nsstorm", "umount", "-l", "/proc/sys")
	if got := d.try("nsstorm", "openw", "/proc/sys/user/max_mnt_namespaces"); got != "EACCES" {
		t.Errorf("open max_mnt_namespaces for writing without the read-only /proc/sys: %s, want EACCES (no CAP_SYS_RESOURCE)", got)
	}
	if capBnd := field(d.try("nsstorm", "status"), "CapBnd:"); capBnd == "" || bit(capBnd, 24) {
		t.Errorf("the zone's bounding set %q holds CAP_SYS_RESOURCE", capBnd)
	}
}

// TestEscapeZoneCountsApartFromHostRoot: an unprivileged zone's user
// namespace is owned by the zone's own base host ID, not host root, so
// what the zone makes counts against that ID's per-user maxima alone. A
// zone's inotify storm (its own maximum raised above the host's) stops at
// exactly the host's fs.inotify.max_user_instances, whatever host root
// holds; when host root owned the namespace, it stopped at what host root
// had left of it, and used that up.
func TestEscapeZoneCountsApartFromHostRoot(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		t.Skipf("no inotify: %v", err)
	}
	hostMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if hostMax > 4096 {
		t.Skipf("fs.inotify.max_user_instances is %d: too many for a quick storm", hostMax)
	}
	d := startDaemonWith(t, []string{"-zone-userns-limit", "max_inotify_instances=" + strconv.Itoa(hostMax+100)})
	z := d.createEscapeZoneAs(t, "apart", api.Resources{}, false)
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", z.InitPID))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	var owner uint32
	const nsGetOwnerUID = 0xb704 // _IO(0xb7, 0x4)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ns.Fd(), nsGetOwnerUID, uintptr(unsafe.Pointer(&owner))); e != 0 {
		t.Fatalf("NS_GET_OWNER_UID: %v", e)
	}
	if owner == 0 || uint64(owner) != hostIDOf(t, z.InitPID) {
		t.Errorf("the zone's user namespace is owned by host UID %d, want the zone root's host ID %d", owner, hostIDOf(t, z.InitPID))
	}
	// Host root holds one instance meanwhile: the zone's count must not
	// include it.
	fd, err := syscall.InotifyInit()
	if err != nil {
		t.Fatalf("inotify_init as host root: %v", err)
	}
	defer syscall.Close(fd)
	if word, n := d.storm("apart", "inotify", strconv.Itoa(hostMax+10)); word != "EMFILE" || n != hostMax {
		t.Errorf("inotify storm: %s after %d, want EMFILE after exactly %d (the host's per-user maximum, counted for the zone alone)", word, n, hostMax)
	}
}

// hostIDOf is the host UID the zone's root maps to, from the init's uid_map.
func hostIDOf(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 || f[0] != "0" {
		t.Fatalf("uid_map of the zone's init: %q", b)
	}
	id, _ := strconv.ParseUint(f[1], 10, 32)
	return id
}
