//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// requireIDMappedOverlay skips where the kernel cannot give unprivileged
// zones their root (zoned refuses to create them there): it needs
// idmapped mounts (5.12) and overlayfs over idmapped layers (5.19).
func requireIDMappedOverlay(t *testing.T) {
	t.Helper()
	if release, ok := kernelAtLeast(t, 5, 19); !ok {
		t.Skipf("kernel %s lacks overlayfs over idmapped layers (5.19+), which unprivileged zones need", release)
	}
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		t.Skip("kernel has no user namespaces (CONFIG_USER_NS)")
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or
// newer, with its release for skip messages.
func kernelAtLeast(t *testing.T, major, minor int) (string, bool) {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	var ma, mi int
	fmt.Sscanf(b.String(), "%d.%d", &ma, &mi)
	return b.String(), ma > major || ma == major && mi >= minor
}

func statIDs(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// TestUsernsRootMapsToZoneRange: root inside an unprivileged zone is the
// first host ID of the zone's range, files it makes land in its layer with
// host IDs of that range, and the shared template shows as root's inside
// while staying untouched (owned by host root) on disk.
func TestUsernsRootMapsToZoneRange(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	z := d.createStarted("u1", api.Resources{})
	if z.Privileged || z.IDMap == nil {
		t.Fatalf("default zone: privileged %v, idmap %+v; want unprivileged with a range", z.Privileged, z.IDMap)
	}
	base, size := z.IDMap.HostID, z.IDMap.Size
	if base < 1000000 || size != 65536 {
		t.Errorf("range %d+%d, want 65536 IDs above 1,000,000", base, size)
	}
	want := fmt.Sprintf("0 %d %d", base, size)
	for _, f := range []string{"uid_map", "gid_map"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", z.InitPID, f))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(string(data)), " "); got != want {
			t.Errorf("zone init's %s = %q, want %q", f, got, want)
		}
	}
	host, _ := os.Readlink("/proc/self/ns/user")
	if zns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", z.InitPID)); zns == host || zns == "" {
		t.Errorf("zone's user namespace %q is the host's %q", zns, host)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", z.InitPID))
	if err != nil {
		t.Fatal(err)
	}
	if uids := strings.Fields(field(string(status), "Uid:")); len(uids) == 0 || uids[0] != fmt.Sprint(base) {
		t.Errorf("zone init runs as host uid %v, want %d", uids, base)
	}
	// The spec says so too.
	full, err := d.c.GetZone(ctxT(t), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if l := full.Spec.Linux; l == nil || len(l.UIDMappings) != 1 || l.UIDMappings[0].HostID != base || len(l.GIDMappings) != 1 {
		t.Errorf("spec's ID mappings: %+v", full.Spec.Linux)
	}

	// Commands exec'd into the zone are its root too, not "nobody".
	if got := strings.TrimSpace(d.mustExec("u1", "id")); !strings.HasPrefix(got, "uid=0(root) gid=0(root)") {
		t.Errorf("id inside = %q, want root", got)
	}
	d.mustExec("u1", "sh", "-c", "echo hi > /made-inside && mkdir /home-www && chown 33:33 /home-www && echo changed >> /etc/inittab")
	upper := filepath.Join(d.dataDir, "zones", "u1", "upper")
	for path, want := range map[string]uint32{"made-inside": base, "home-www": base + 33, "etc/inittab": base} {
		if uid, gid := statIDs(t, filepath.Join(upper, path)); uid != want || gid != want {
			t.Errorf("%s in the zone's layer is owned by %d:%d on the host, want %d:%d", path, uid, gid, want, want)
		}
	}
	// Files the daemon wrote for the zone belong to the zone's root.
	if uid, _ := statIDs(t, filepath.Join(upper, "etc", "hostname")); uid != base {
		t.Errorf("/etc/hostname written at create is host uid %d, want %d", uid, base)
	}

	// The template's files are root's inside (idmapped)...
	if got := strings.TrimSpace(d.mustExec("u1", "stat", "-c", "%u:%g", "/bin/busybox", "/etc")); got != "0:0\n0:0" {
		t.Errorf("template files inside are owned by %q, want 0:0", got)
	}
	// ...and still host root's on disk, unchanged by the zone's write.
	tmpl := filepath.Join(d.dataDir, "templates", "busybox", "rootfs")
	for _, p := range []string{"bin/busybox", "etc", "etc/inittab"} {
		if uid, gid := statIDs(t, filepath.Join(tmpl, p)); uid != 0 || gid != 0 {
			t.Errorf("template's %s is now %d:%d on disk, want 0:0", p, uid, gid)
		}
	}
	if data, err := os.ReadFile(filepath.Join(tmpl, "etc", "inittab")); err != nil || strings.Contains(string(data), "changed") {
		t.Errorf("the zone's write reached the shared template: %v", err)
	}
	// The console and exec'd terminals belong to the zone's root.
	if got := strings.TrimSpace(d.mustExec("u1", "stat", "-c", "%u", "/dev/console")); got != "0" {
		t.Errorf("/dev/console inside is owned by %q, want 0", got)
	}
}

// TestUsernsRangesDisjointFreedAndReused: two zones never share host IDs,
// destroy frees a range and the next zone gets the lowest free one.
func TestUsernsRangesDisjointFreedAndReused(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	a := d.createStarted("ra", api.Resources{})
	b := d.createStarted("rb", api.Resources{})
	if a.IDMap == nil || b.IDMap == nil {
		t.Fatalf("zones without ranges: %+v %+v", a.IDMap, b.IDMap)
	}
	lo, hi := a.IDMap, b.IDMap
	if lo.HostID > hi.HostID {
		lo, hi = hi, lo
	}
	if lo.HostID+lo.Size > hi.HostID {
		t.Fatalf("ranges overlap: %+v %+v", a.IDMap, b.IDMap)
	}
	// Each zone's files are out of the other's reach: the other zone's
	// root is a different host user.
	d.mustExec("ra", "sh", "-c", "echo secret > /root-secret && chmod 600 /root-secret")
	if uid, _ := statIDs(t, filepath.Join(d.dataDir, "zones", "ra", "upper", "root-secret")); uid != a.IDMap.HostID {
		t.Errorf("zone ra's file is owned by host uid %d, want ra's root %d (rb's root is %d)", uid, a.IDMap.HostID, b.IDMap.HostID)
	}
	if err := d.c.DestroyZone(ctx, "ra", true); err != nil {
		t.Fatal(err)
	}
	c, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "rc", Template: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if c.IDMap == nil || c.IDMap.HostID != a.IDMap.HostID {
		t.Errorf("zone after destroy got %+v, want the freed range %d", c.IDMap, a.IDMap.HostID)
	}
}

// TestUsernsPrivilegedNeedsFlagAndWarns: only an explicit request makes a
// privileged zone, which has no user namespace and says so in show.
func TestUsernsPrivilegedNeedsFlagAndWarns(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "unpriv", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := d.zonectl("", "create", "priv", "--privileged"); code != 0 {
		t.Fatalf("zonectl create --privileged: %d %s %s", code, out, errOut)
	}
	p, err := d.c.StartZone(ctx, "priv")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Privileged || p.IDMap != nil {
		t.Errorf("zone made with --privileged: privileged %v, idmap %+v", p.Privileged, p.IDMap)
	}
	if hasUserNamespace(p.InitPID) {
		t.Errorf("privileged zone runs in a user namespace")
	}
	out, _, code := d.zonectl("", "show", "priv")
	if code != 0 || !strings.Contains(out, "WARNING: privileged zone") {
		t.Errorf("show of a privileged zone lacks the warning:\n%s", out)
	}
	out, _, code = d.zonectl("", "show", "unpriv")
	if code != 0 || strings.Contains(out, "WARNING") || !strings.Contains(out, "User namespace:") {
		t.Errorf("show of an unprivileged zone:\n%s", out)
	}
}

// TestUsernsZoneRootHasNoHostPower: root of an unprivileged zone has full
// power over its own namespaces and none over what belongs to the host.
func TestUsernsZoneRootHasNoHostPower(t *testing.T) {
	requireIDMappedOverlay(t)
	d := startDaemon(t)
	d.createStarted("np", api.Resources{MemoryBytes: 64 << 20})
	// Its own mount namespace: mounting a tmpfs works.
	d.mustExec("np", "sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && touch /mnt/t/x && umount /mnt/t")
	// Its own UTS namespace.
	d.mustExec("np", "hostname", "np-renamed")
	// No device nodes: CAP_MKNOD counts only in the host's namespace.
	if r := d.exec("np", "", "mknod", "/tmp/null2", "c", "1", "3"); r.code == 0 {
		t.Errorf("mknod of a device succeeded in an unprivileged zone")
	}
	// Host-owned kernel knobs: denied as files of an unmapped owner, even
	// where a mount would allow the write.
	for _, p := range []string{"/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches"} {
		if r := d.exec("np", "", "sh", "-c", "echo 1 > "+p); r.code == 0 {
			t.Errorf("writing %s succeeded in an unprivileged zone", p)
		}
	}
	// The zone's limits stay the host's: its root cannot raise them...
	limit := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	if d.exec("np", "", "test", "-e", "/sys/fs/cgroup/cgroup.controllers").code == 0 {
		limit = "/sys/fs/cgroup/memory.max"
	}
	if r := d.exec("np", "", "sh", "-c", "echo -1 > "+limit); r.code == 0 {
		t.Errorf("the zone raised its own memory limit through %s", limit)
	}
	// ...but it manages its own subtree (delegation, for systemd): in
	// the cgroup2 tree, which a hybrid v1 host mounts at unified, or in
	// name=systemd on a legacy host that has none.
	sub := "/sys/fs/cgroup/systemd/zoned-test-sub"
	if limit == "/sys/fs/cgroup/memory.max" {
		sub = "/sys/fs/cgroup/zoned-test-sub"
	} else if d.exec("np", "", "test", "-e", "/sys/fs/cgroup/unified/cgroup.procs").code == 0 {
		sub = "/sys/fs/cgroup/unified/zoned-test-sub"
	}
	d.mustExec("np", "sh", "-c", "mkdir "+sub+" && echo $$ > "+sub+"/cgroup.procs")
	file := "memory.limit_in_bytes"
	if limit == "/sys/fs/cgroup/memory.max" {
		file = "memory.max"
	}
	if got := d.cgroupFile("np", "memory", file); got != fmt.Sprint(64<<20) {
		t.Errorf("memory limit is now %s, want %d", got, 64<<20)
	}
}
