//go:build linux

package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/testfs"
	"github.com/zoned-project/zoned/quota"
)

// zoneDiskUsed is what the zone's quota counts as used, in KiB, read on
// the host through the quota package (btrfs copy-up is a reflink, which df
// does not see and the qgroup's referenced bytes do).
func (d *daemon) zoneDiskUsed(zone string) int64 {
	d.t.Helper()
	d.mustExec(zone, "sync")
	// The API's stats carry what the zone's quota backend counts.
	st, err := d.c.ZoneStats(ctxT(d.t), zone)
	if err != nil {
		d.t.Fatal(err)
	}
	if st.DiskLimitBytes == 0 {
		d.t.Fatalf("stats of zone %q have no disk limit: %+v", zone, st)
	}
	return int64(st.DiskBytes) / 1024
}

// hasCapSysResource tells whether this process may grow a mounted ext4
// (the kernel's online resize wants CAP_SYS_RESOURCE; sandboxes drop it).
func hasCapSysResource() bool {
	data, _ := os.ReadFile("/proc/self/status")
	eff, err := strconv.ParseUint(field(string(data), "CapEff"), 16, 64)
	return err == nil && eff&(1<<24) != 0
}

// loopsBackedBy lists loop devices whose backing file is under dir.
func loopsBackedBy(dir string) []string {
	var out []string
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), dir) {
			out = append(out, f)
		}
	}
	return out
}

// checkDiskQuota runs the checks every backend must pass on a zone "q1"
// created with a 64 MiB disk.
func checkDiskQuota(t *testing.T, d *daemon) {
	ctx := ctxT(t)
	// Bad sizes are refused and leave nothing.
	for _, res := range []api.Resources{{DiskBytes: -1}, {DiskBytes: 1 << 62}, {DiskBytes: 1 << 30, DiskInodes: -3}, {DiskInodes: 1000}} {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "bad", Resources: res}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("create with %+v: %v, want invalid", res, err)
		}
		d.mustNotExist("bad", "zone")
	}
	d.createStarted("q1", api.Resources{DiskBytes: 64 << 20})
	d.createStarted("other", api.Resources{})

	// A hard link to, and a rename of, a template file copy the file up
	// into the zone's layer: it is counted.
	before := d.zoneDiskUsed("q1")
	d.mustExec("q1", "ln", "/bin/busybox", "/root/bb-link")
	d.mustExec("q1", "mv", "/etc/init.d/rcK", "/root/rcK-moved")
	d.mustExec("q1", "mv", "/root/rcK-moved", "/etc/init.d/rcK")
	bbSize, err := os.Stat(filepath.Join(d.dataDir, "templates", "busybox", "rootfs", "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := d.c.GetZone(ctx, "q1")
	if err != nil {
		t.Fatal(err)
	}
	// In a btrfs pool the zone's root is a snapshot: nothing is copied
	// up, and the link shares the template's extents.
	onSnapshot := z.Spec.Annotations["org.zoned.disk-quota-on-layer"] != ""
	// df inside shows the plan: statfs of the overlay root is its upper
	// dir's, which is the image's filesystem or, with a project quota,
	// the project's limit. btrfs reports the whole filesystem, so the
	// /proc view answers statfs of the zone's root with the qgroup's.
	backend := z.Spec.Annotations["org.zoned.disk-quota"]
	if size, _ := d.df("q1", "/"); size < 48<<10 || size > 64<<10 {
		t.Errorf("df in a zone with a 64M quota (%s) shows %d KiB", backend, size)
	}
	dfBefore := d.dfUsedAfterSync("q1")
	d.mustExec("q1", "dd", "if=/dev/zero", "of=/root/df-probe", "bs=1M", "count=16", "conv=fsync")
	if grew := d.dfUsedAfterSync("q1") - dfBefore; grew < 15<<10 || grew > 20<<10 {
		t.Errorf("df in a zone (%s) counts a 16 MiB write as %d KiB", backend, grew)
	}
	d.mustExec("q1", "rm", "/root/df-probe")
	// Other filesystems, and paths that do not exist, answer as always.
	if got := strings.TrimSpace(d.mustExec("q1", "stat", "-f", "-c", "%t", "/proc")); got != "9fa0" {
		t.Errorf("statfs of /proc in zone (%s): type %q, want 9fa0", backend, got)
	}
	if r := d.exec("q1", "", "stat", "-f", "/no/such/dir"); r.code == 0 || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("statfs of a missing path in zone (%s): exit %d, %q", backend, r.code, r.stderr)
	}
	if grew := d.zoneDiskUsed("q1") - before; !onSnapshot && grew < bbSize.Size()/1024-4 {
		t.Errorf("hard linking busybox (%d KiB) grew the zone's use by %d KiB only", bbSize.Size()/1024, grew)
	}
	// A sparse write far out succeeds and takes one block.
	d.mustExec("q1", "dd", "if=/dev/zero", "of=/root/sparse", "bs=4k", "count=1", "seek=10000000")
	// Writing past the quota fails inside, with ENOSPC or EDQUOT, and
	// counts as a quota hit with an event.
	events, err := d.c.Events(ctx, api.EventFilter{Zone: "q1", Types: []string{api.EventZoneQuota}})
	if err != nil {
		t.Fatal(err)
	}
	if n := d.quotaHits("q1"); n != 0 {
		t.Fatalf("quota hits of a new zone: %d", n)
	}
	r := d.exec("q1", "", "dd", "if=/dev/zero", "of=/root/big", "bs=1M", "count=100", "conv=fsync")
	if r.code == 0 || !quotaRefused(r.stderr) {
		t.Fatalf("writing 100 MiB in a 64 MiB zone: exit %d, stderr %q", r.code, r.stderr)
	}
	waitFor(t, 10*time.Second, "a quota hit in the stats", func() bool { return d.quotaHits("q1") >= 1 })
	waitEvent(t, events, api.EventZoneQuota, "q1", 10*time.Second)
	// More refused writes while the zone stays full are the same hit.
	if r := d.exec("q1", "", "dd", "if=/dev/zero", "of=/root/big2", "bs=64k", "count=2000"); r.code == 0 || !quotaRefused(r.stderr) {
		t.Fatalf("writing more in a full zone: exit %d, stderr %q", r.code, r.stderr)
	}
	time.Sleep(3 * time.Second) // a sample of the sampler
	if n := d.quotaHits("q1"); n != 1 {
		t.Errorf("quota hits after two refused writes without room made in between: %d, want 1", n)
	}
	// Once use drops, the next fill is a hit of its own. The stats read
	// after the delete sees the room (zoneDiskUsed syncs first, for
	// btrfs's counters).
	d.mustExec("q1", "rm", "-f", "/root/big", "/root/big2")
	if used := d.zoneDiskUsed("q1"); used > 16<<10 {
		t.Fatalf("zone uses %d KiB after deleting what filled it", used)
	}
	if r := d.exec("q1", "", "dd", "if=/dev/zero", "of=/root/big", "bs=4k", "count=50000"); r.code == 0 || !quotaRefused(r.stderr) {
		t.Fatalf("filling the zone again: exit %d, stderr %q", r.code, r.stderr)
	}
	waitFor(t, 10*time.Second, "a second quota hit in the stats", func() bool { return d.quotaHits("q1") >= 2 })
	if out, stderr, code := d.zonectl("", "stats", "q1"); code != 0 || !regexp.MustCompile(`(?m)^disk .* 2\s*$`).MatchString(out) {
		t.Errorf("zonectl stats q1 shows no 2 disk quota fails: %d %q %q", code, out, stderr)
	}
	// /metrics counts zones with a quota, from 0, and leaves out others.
	m := d.scrape(t)
	if got, ok := m[`zoned_zone_quota_failures_total{zone="q1"}`]; !ok || got < 2 {
		t.Errorf("quota failures of q1 in /metrics: %v (%v), want 2 or more", got, ok)
	}
	if got, ok := m[`zoned_zone_quota_failures_total{zone="other"}`]; ok {
		t.Errorf("a zone without a quota has quota failures in /metrics: %v", got)
	}
	// The other zone and the host write on.
	d.mustExec("other", "dd", "if=/dev/zero", "of=/root/big", "bs=1M", "count=80", "conv=fsync")
	if err := os.WriteFile(filepath.Join(d.dataDir, "host-file"), bytes.Repeat([]byte{1}, 1<<20), 0o600); err != nil {
		t.Fatalf("host write next to a full zone: %v", err)
	}
	os.Remove(filepath.Join(d.dataDir, "host-file"))

	// Shrinking below what is used is refused, naming the use.
	small := int64(40 << 20)
	_, err = d.c.UpdateZone(ctx, "q1", api.ZonePatch{Resources: &api.ResourcesPatch{DiskBytes: &small}})
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("shrink below use: %v, want conflict naming the use", err)
	}
	// Grow with zonectl: live where the kernel allows it.
	zone := "q1"
	if !liveGrowable(d, zone) {
		if _, err := d.c.StopZone(ctx, zone, api.StopRequest{TimeoutSeconds: 10}); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := d.zonectl("", "set", zone, "--disk", "128M"); code != 0 {
		t.Fatalf("zonectl set --disk 128M: %s", stderr)
	}
	z, err = d.c.GetZone(ctx, zone)
	if err != nil || z.Resources.DiskBytes != 128<<20 {
		t.Fatalf("after set: %+v %v", z, err)
	}
	if z.State != api.StateRunning {
		if _, err := d.c.StartZone(ctx, zone); err != nil {
			t.Fatalf("start after grow: %v\n%s", err, d.logs())
		}
	}
	d.mustExec("q1", "dd", "if=/dev/zero", "of=/root/more", "bs=1M", "count=40", "conv=fsync")
	if size, used := d.df("q1", "/"); size < 96<<10 || size > 128<<10 || used < 40<<10 {
		t.Errorf("df in a zone (%s) grown to 128M with 40M written: size %d KiB, used %d KiB", backend, size, used)
	}
	// The limit, and the count of hits (2 unless the zone restarted to
	// grow), hold after a daemon restart.
	hits := d.quotaHits("q1")
	if z.State == api.StateRunning && hits < 2 {
		t.Errorf("quota hits after growing live: %d, want the 2 before", hits)
	}
	d.kill9()
	d.start()
	if got := d.quotaHits("q1"); got != hits {
		t.Errorf("quota hits after a daemon restart: %d, want the %d before", got, hits)
	}
	r = d.exec("q1", "", "dd", "if=/dev/zero", "of=/root/big2", "bs=1M", "count=100", "conv=fsync")
	if r.code == 0 {
		t.Fatalf("writing past the grown quota after a daemon restart succeeded")
	}
	waitFor(t, 10*time.Second, "the adopted zone's quota hit to count on", func() bool { return d.quotaHits("q1") == hits+1 })
}

// df returns the size and use of the filesystem of path inside zone as
// df shows them, in KiB.
func (d *daemon) df(zone, path string) (size, used int64) {
	d.t.Helper()
	lines := strings.Split(strings.TrimSpace(d.mustExec(zone, "df", "-k", path)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 3 {
		d.t.Fatalf("df -k %s in zone %q: %q", path, zone, lines)
	}
	size, _ = strconv.ParseInt(f[1], 10, 64)
	used, _ = strconv.ParseInt(f[2], 10, 64)
	return size, used
}

// dfUsedAfterSync is the use df shows of zone's root once what was
// written has reached the disk: btrfs counts it at the next commit.
func (d *daemon) dfUsedAfterSync(zone string) int64 {
	d.t.Helper()
	d.mustExec(zone, "sync")
	_, used := d.df(zone, "/")
	return used
}

// quotaHits is the zone's disk quota fail counter in its stats.
func (d *daemon) quotaHits(zone string) uint64 {
	d.t.Helper()
	st, err := d.c.ZoneStats(ctxT(d.t), zone)
	if err != nil {
		d.t.Fatal(err)
	}
	return st.Fails.Quota
}

// quotaRefused tells whether a tool's stderr says the quota refused a
// write: ENOSPC (images, XFS) or EDQUOT.
func quotaRefused(stderr string) bool {
	return strings.Contains(stderr, "No space left") || strings.Contains(stderr, "quota exceeded")
}

// liveGrowable says whether zone's disk can grow while it runs here:
// everywhere but an image disk under a root without CAP_SYS_RESOURCE.
func liveGrowable(d *daemon, zone string) bool {
	z, err := d.c.GetZone(ctxT(d.t), zone)
	if err != nil {
		d.t.Fatal(err)
	}
	if z.Spec.Annotations["org.zoned.disk-quota"] == "image" && !hasCapSysResource() {
		d.t.Log("no CAP_SYS_RESOURCE here: the image disk is grown stopped (the lane grows it live)")
		return false
	}
	return true
}

func TestDiskQuotaOnHostFilesystem(t *testing.T) {
	d := startDaemon(t)
	checkDiskQuota(t, d)
	ctx := ctxT(t)
	if err := d.c.DestroyZone(ctx, "q1", true); err != nil {
		t.Fatal(err)
	}
	if l := loopsBackedBy(d.dataDir); len(l) != 0 {
		t.Errorf("loop devices left after destroy: %v", l)
	}
	if imgs, _ := filepath.Glob(filepath.Join(d.dataDir, "disks", "*")); len(imgs) != 0 {
		t.Errorf("disk images left after destroy: %v", imgs)
	}
}

func TestDiskQuotaBtrfsQgroups(t *testing.T) {
	// The data dir is on the btrfs filesystem, so the default pool and
	// the quotas are btrfs's.
	mnt := testfs.Loop(t, "btrfs", 1024)
	d := startDaemon(t, inDataDir(filepath.Join(mnt, "data")))
	checkDiskQuota(t, d)
	z, err := d.c.GetZone(ctxT(t), "q1")
	if err != nil || z.Spec.Annotations["org.zoned.disk-quota"] != "btrfs-qgroup" {
		t.Fatalf("zone on btrfs has quota backend %q (%v)", z.Spec.Annotations["org.zoned.disk-quota"], err)
	}
	// A zone cannot make a nested subvolume, whose qgroup would not be
	// its own: it sees its layer through overlayfs, which passes no btrfs
	// ioctl. The helper runs as host root in a privileged zone.
	d.createEscapeZoneAs(t, "nest", api.Resources{DiskBytes: 64 << 20}, true)
	if got := strings.TrimSpace(d.mustExec("nest", "/usr/local/bin/escape", "btrfs_subvol", "/root", "nested")); got == "OK" {
		t.Errorf("a zone on btrfs created a nested subvolume")
	}
	// The helper itself can (outside any zone), so the attempt is real.
	if out, err := exec.Command(buildEscape(t), "btrfs_subvol", mnt, "probe").CombinedOutput(); strings.TrimSpace(string(out)) != "OK" {
		t.Errorf("escape helper cannot create a subvolume on the host either: %s %v", out, err)
	}
	// Removed with its qgroup, which kernels before 6.x's auto-removal keep.
	if b, err := quota.ByName(quota.BtrfsQgroup, ""); err == nil {
		if err := b.Remove(filepath.Join(mnt, "probe")); err != nil {
			t.Errorf("remove probe subvolume: %v", err)
		}
	}
	for _, n := range []string{"q1", "nest", "other"} {
		if err := d.c.DestroyZone(ctxT(t), n, true); err != nil {
			t.Fatal(err)
		}
	}
	// What stays is the top level and the pool's template subvolume.
	out, err := exec.Command("btrfs", "qgroup", "show", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs qgroup show: %v: %s", err, out)
	}
	if strings.Contains(string(out), "<stale>") || strings.Contains(string(out), "zones/") {
		t.Errorf("zones' qgroups left after destroy:\n%s", out)
	}
}
