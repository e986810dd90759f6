//go:build linux

package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/testfs"
)

// TestBtrfsPoolZones: a pool on btrfs gets the btrfs backend, unprivileged
// and privileged zones run from snapshots of one template subvolume, their
// writes stay their own and cost only what they wrote, and the pool and
// its zones survive a daemon restart.
func TestBtrfsPoolZones(t *testing.T) {
	requireIDMappedOverlay(t)
	mnt := testfs.Loop(t, "btrfs", 512)
	d := startDaemon(t)
	ctx := ctxT(t)

	// An explicit backend the filesystem cannot serve is refused.
	_, stderr, code := d.zonectl("", "storage", "create", "bad", "--path", filepath.Join(d.dataDir+"-not-btrfs"), "--backend", "btrfs")
	if code == 0 || !strings.Contains(stderr, "btrfs filesystem") {
		t.Fatalf("btrfs pool on ext4: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := d.zonectl("", "storage", "create", "bad", "--path", filepath.Join(mnt, "x"), "--backend", "zfs"); code == 0 || !strings.Contains(stderr, "unknown") {
		t.Fatalf("unknown backend: exit %d, stderr %q", code, stderr)
	}
	out, stderr, code := d.zonectl("", "storage", "create", "fast", "--path", filepath.Join(mnt, "pool"))
	if code != 0 || !strings.Contains(out, "btrfs") {
		t.Fatalf("storage create: exit %d, %q %q", code, out, stderr)
	}

	for _, z := range []api.CreateZoneRequest{
		{Name: "bu", Pool: "fast"},
		{Name: "bp", Pool: "fast", Privileged: true},
		{Name: "ov"},
	} {
		if _, err := d.c.CreateZone(ctx, z); err != nil {
			t.Fatalf("create %s: %v", z.Name, err)
		}
		if _, err := d.c.StartZone(ctx, z.Name); err != nil {
			t.Fatalf("start %s: %v\n%s", z.Name, err, d.logs())
		}
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "nopool", Pool: "missing"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("zone in a missing pool: %v", err)
	}
	// Root inside the unprivileged zone owns the template's files and
	// writes its own as root; on disk the snapshot keeps the zone's IDs.
	if got := d.mustExec("bu", "sh", "-c", "echo hi > /root/f && stat -c %u:%g /bin/busybox /root/f"); got != "0:0\n0:0\n" {
		t.Fatalf("owners inside the btrfs zone: %q", got)
	}
	layer := filepath.Join(mnt, "pool", "zones", "bu", "rootfs")
	if uid, _ := statIDs(t, filepath.Join(layer, "root", "f")); uid != 0 {
		t.Fatalf("file written in the btrfs zone is host uid %d on disk, want 0 (idmapped mount)", uid)
	}
	if _, err := os.Stat(filepath.Join(mnt, "pool", "zones", "bp", "rootfs", "root", "f")); !os.IsNotExist(err) {
		t.Fatalf("bu's write visible in bp: %v", err)
	}
	d.mustExec("bp", "sh", "-c", "rm /bin/ls && mv /etc /etc.old")
	if r := d.exec("bu", "", "ls", "/etc/hostname"); r.code != 0 {
		t.Fatalf("bp's delete and rename reached bu: %+v", r)
	}

	out, _, code = d.zonectl("", "storage", "list")
	if code != 0 || !strings.Contains(out, "fast") || !strings.Contains(out, "default") || !strings.Contains(out, "QUOTA") {
		t.Fatalf("storage list: %q", out)
	}
	// Each pool says which backend enforces --disk in it: qgroups in the
	// btrfs pool, project quotas or images in the default one, none in
	// another overlay pool (--disk is refused there).
	if _, stderr, code := d.zonectl("", "storage", "create", "plain", "--path", t.TempDir(), "--backend", "overlay"); code != 0 {
		t.Fatalf("storage create plain: %s", stderr)
	}
	out, _, _ = d.zonectl("", "storage", "list", "-o", "json")
	var listed []api.Pool
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("storage list -o json: %v\n%s", err, out)
	}
	quotas := map[string]string{}
	for _, p := range listed {
		quotas[p.Name] = p.Quota
	}
	if quotas["fast"] != "btrfs-qgroup" || (quotas["default"] != "image" && quotas["default"] != "project") || quotas["plain"] != "none" {
		t.Errorf("pools' quota backends = %v", quotas)
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "inplain", Pool: "plain", Resources: api.Resources{DiskBytes: 1 << 30}}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("--disk in a pool whose quota is none: %v, want refused as not supported", err)
	}
	if _, stderr, code := d.zonectl("", "storage", "delete", "plain"); code != 0 {
		t.Fatalf("storage delete plain: %s", stderr)
	}
	out, _, code = d.zonectl("", "df", "-o", "json")
	if code != 0 {
		t.Fatalf("df: exit %d", code)
	}
	var du api.DiskUsage
	if err := json.Unmarshal([]byte(out), &du); err != nil {
		t.Fatal(err)
	}
	pools := map[string]string{}
	for _, z := range du.Zones {
		pools[z.Name] = z.Pool
		if z.OwnBytes > 1<<20 {
			t.Errorf("zone %s owns %d bytes after writing a few files; want under 1 MiB", z.Name, z.OwnBytes)
		}
	}
	if pools["bu"] != "fast" || pools["ov"] != "default" || du.SavedBytes <= 0 {
		t.Fatalf("df = %+v", du)
	}

	// The pool and its zones outlive the daemon.
	for _, z := range []string{"bu", "bp", "ov"} {
		if _, err := d.c.StopZone(ctx, z, api.StopRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	d.stop()
	d.start()
	if _, err := d.c.StartZone(ctx, "bu"); err != nil {
		t.Fatalf("start after restart: %v\n%s", err, d.logs())
	}
	if got := d.mustExec("bu", "cat", "/root/f"); got != "hi\n" {
		t.Fatalf("after restart: %q", got)
	}
	if _, _, code := d.zonectl("", "storage", "delete", "fast"); code == 0 {
		t.Fatal("deleted a pool zones use")
	}
	for _, z := range []string{"bu", "bp"} {
		if err := d.c.DestroyZone(ctx, z, true); err != nil {
			t.Fatal(err)
		}
	}
	if out, stderr, code := d.zonectl("", "storage", "delete", "fast"); code != 0 {
		t.Fatalf("storage delete: %q %q", out, stderr)
	}
	if left, _ := os.ReadDir(filepath.Join(mnt, "pool")); len(left) > 0 {
		t.Fatalf("pool dir keeps %v after delete", left)
	}
}

// ociLayout writes an OCI image layout at dir with one layer: a tar of
// root made by GNU tar.
func ociLayout(t *testing.T, root, dir string) {
	t.Helper()
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if out, err := exec.Command("tar", "--numeric-owner", "-C", root, "-cf", layer, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	lb, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	testfs.OCILayout(t, dir, [][]byte{lb})
}

// TestTemplatesFromDirAndOCI: templates made from a host directory and
// from an OCI image boot zones, template list shows their zones, and a
// template in use cannot be deleted.
func TestTemplatesFromDirAndOCI(t *testing.T) {
	d := startDaemon(t)
	if _, stderr, code := d.zonectl("", "template", "create", "busybox", "--from", "builtin"); code != 0 {
		t.Fatalf("builtin: %s", stderr)
	}
	src := filepath.Join(d.dataDir, "templates", "busybox", "rootfs")
	layout := t.TempDir()
	ociLayout(t, src, layout)
	if _, stderr, code := d.zonectl("", "template", "create", "img", "--from", "oci", layout); code != 0 {
		t.Fatalf("template from oci: %s", stderr)
	}
	if _, stderr, code := d.zonectl("", "template", "create", "copy", "--from", "dir", src); code != 0 {
		t.Fatalf("template from dir: %s", stderr)
	}
	if _, stderr, code := d.zonectl("", "template", "create", "nopath", "--from", "oci"); code == 0 || !strings.Contains(stderr, "PATH") {
		t.Fatalf("oci without a path: exit %d %s", code, stderr)
	}
	ctx := ctxT(t)
	for _, tp := range []string{"img", "copy"} {
		z := "z-" + tp
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: z, Template: tp}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.c.StartZone(ctx, z); err != nil {
			t.Fatalf("start %s: %v", z, err)
		}
		if got := d.mustExec(z, "echo", "up"); got != "up\n" {
			t.Fatalf("%s: %q", z, got)
		}
	}
	out, _, _ := d.zonectl("", "template", "list")
	if !strings.Contains(out, "img") || !strings.Contains(out, "oci") {
		t.Fatalf("template list: %s", out)
	}
	tp, err := d.c.GetTemplate(ctx, "img")
	if err != nil || len(tp.Zones) != 1 || tp.Zones[0] != "z-img" || tp.SizeBytes < 1<<20 {
		t.Fatalf("template img = %+v, %v", tp, err)
	}
	if _, stderr, code := d.zonectl("", "template", "delete", "img"); code == 0 || !strings.Contains(stderr, "z-img") {
		t.Fatalf("delete of a template in use: exit %d %s", code, stderr)
	}
}

// TestSnapshotRoundTrip: a snapshot of a running zone (frozen for the
// moment, thawed after) restores the zone's files exactly on both
// backends, restore refuses a running zone, and snapshots outlive a
// daemon restart and go with their zone.
func TestSnapshotRoundTrip(t *testing.T) {
	d, _ := btrfsPool(t)
	ctx := ctxT(t)
	const sums = "find /etc /root -type f | sort | xargs md5sum; ls -ln /bin | md5sum"
	for _, pool := range []string{"", "b"} {
		z := "snap-" + poolName(pool)
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: z, Pool: pool}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.c.StartZone(ctx, z); err != nil {
			t.Fatal(err)
		}
		d.mustExec(z, "sh", "-c", "echo v1 > /root/data && mkdir -p /root/d && echo x > /root/d/x && chown 123:456 /root/d/x && chmod 640 /root/d/x")
		want := d.mustExec(z, "sh", "-c", sums+"; stat -c '%u:%g %a' /root/d/x")
		if out, stderr, code := d.zonectl("", "snapshot", "create", z+"@s1"); code != 0 {
			t.Fatalf("snapshot create: %s %s", out, stderr)
		}
		// Thawed again: the zone still runs commands.
		d.mustExec(z, "sh", "-c", "echo v2 > /root/data && rm /root/d/x /bin/ls && echo new > /etc/new")
		if _, stderr, code := d.zonectl("", "snapshot", "restore", z+"@s1"); code == 0 || !strings.Contains(stderr, "stop") {
			t.Fatalf("restore of a running zone: exit %d %s", code, stderr)
		}
		if _, err := d.c.StopZone(ctx, z, api.StopRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
		if out, stderr, code := d.zonectl("", "snapshot", "restore", z+"@s1"); code != 0 {
			t.Fatalf("restore: %s %s", out, stderr)
		}
		if _, err := d.c.StartZone(ctx, z); err != nil {
			t.Fatal(err)
		}
		if got := d.mustExec(z, "sh", "-c", sums+"; stat -c '%u:%g %a' /root/d/x"); got != want {
			t.Fatalf("pool %q: after restore\n%s\nwant\n%s", pool, got, want)
		}
		snaps, err := d.c.ListSnapshots(ctx, z)
		if err != nil || len(snaps) != 1 || !snaps[0].Running {
			t.Fatalf("snapshots = %+v, %v", snaps, err)
		}
	}
	d.stop()
	d.start()
	out, _, code := d.zonectl("", "snapshot", "list", "snap-b")
	if code != 0 || !strings.Contains(out, "snap-b@s1") {
		t.Fatalf("snapshot list after restart: %q", out)
	}
	if _, stderr, code := d.zonectl("", "snapshot", "delete", "snap-b@s1"); code != 0 {
		t.Fatal(stderr)
	}
	for _, z := range []string{"snap-default", "snap-b"} {
		if err := d.c.DestroyZone(ctx, z, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.c.ListSnapshots(ctx, "snap-default"); err == nil {
		t.Fatal("snapshots of a destroyed zone listed")
	}
	if err := d.c.DeletePool(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}

func poolName(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

// TestCloneZone: a clone shares the template, gets the source's files
// with their owners and modes as the zone sees them, and has an identity
// of its own (UUID, host name, machine-id, host ID range), on both
// backends; the source keeps running and is untouched by the clone.
func TestCloneZone(t *testing.T) {
	d, _ := btrfsPool(t)
	ctx := ctxT(t)
	const look = "cat /root/data; stat -c '%u:%g %a' /root/data /root/suid; ls /bin | md5sum"
	for _, pool := range []string{"", "b"} {
		src, dst := "src-"+poolName(pool), "dst-"+poolName(pool)
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: src, Pool: pool}); err != nil {
			t.Fatal(err)
		}
		s, err := d.c.StartZone(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		d.mustExec(src, "sh", "-c", "echo mine > /root/data && chown 1000:1001 /root/data && echo x > /root/suid && chmod 4755 /root/suid && rm /bin/ls")
		want := d.mustExec(src, "sh", "-c", look)
		out, stderr, code := d.zonectl("", "clone", src, dst, "-o", "json")
		if code != 0 {
			t.Fatalf("clone: %s %s", out, stderr)
		}
		var z api.Zone
		if err := json.Unmarshal([]byte(out), &z); err != nil {
			t.Fatal(err)
		}
		if z.UUID == s.UUID || z.Template != s.Template || z.Pool != s.Pool || z.IDMap == nil || z.IDMap.HostID == s.IDMap.HostID {
			t.Fatalf("clone %+v of %+v", z, s)
		}
		if _, err := d.c.StartZone(ctx, dst); err != nil {
			t.Fatalf("start clone: %v\n%s", err, d.logs())
		}
		if got := d.mustExec(dst, "sh", "-c", look); got != want {
			t.Fatalf("clone sees\n%s\nsource has\n%s", got, want)
		}
		if h := d.mustExec(dst, "hostname"); h != dst+"\n" {
			t.Fatalf("clone hostname %q", h)
		}
		m1, m2 := d.mustExec(src, "cat", "/etc/machine-id"), d.mustExec(dst, "cat", "/etc/machine-id")
		if m1 == m2 || len(m2) != 33 {
			t.Fatalf("machine-ids %q and %q", m1, m2)
		}
		d.mustExec(dst, "sh", "-c", "echo theirs > /root/data")
		if got := d.mustExec(src, "cat", "/root/data"); got != "mine\n" {
			t.Fatalf("clone's write reached the source: %q", got)
		}
	}
	if _, err := d.c.CloneZone(ctx, "missing", api.CloneZoneRequest{Name: "x"}); err == nil {
		t.Fatal("cloned a missing zone")
	}
	if _, err := d.c.CloneZone(ctx, "src-b", api.CloneZoneRequest{Name: "dst-b"}); err == nil {
		t.Fatal("clone over an existing zone")
	}
	for _, z := range []string{"src-default", "dst-default", "src-b", "dst-b"} {
		if err := d.c.DestroyZone(ctx, z, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.c.DeletePool(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}

// btrfsPool starts a daemon with a btrfs pool "b" on a fresh loop file.
func btrfsPool(t *testing.T) (*daemon, string) {
	t.Helper()
	requireIDMappedOverlay(t)
	mnt := testfs.Loop(t, "btrfs", 512)
	d := startDaemon(t)
	if _, err := d.c.CreatePool(ctxT(t), api.CreatePoolRequest{Name: "b", Path: filepath.Join(mnt, "pool")}); err != nil {
		t.Fatal(err)
	}
	return d, mnt
}

// treeState lists every file of a zone's root (but the identity files a
// new zone gets) with owner, mode, type, and for files link count and
// contents' md5 (btrfs counts no links on directories).
const treeState = `cd / && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./etc/hostname -o -path ./etc/machine-id \) -prune -o -print | sort | while read f; do
  s=$(stat -c '%u:%g %a %F' "$f"); m=; [ -f "$f" ] && [ ! -L "$f" ] && m="$(stat -c %h "$f") $(md5sum < "$f")"; echo "$f $s $m"; done`

func getXattr(t *testing.T, p, name string) string {
	t.Helper()
	b := make([]byte, 256)
	n, err := syscall.Getxattr(p, name, b)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b[:n])
}

// TestExportImportRoundTrip: a zone exported (its layer, and whole) and
// imported into the other backend's pool has every file with the same
// contents, mode, owner, link count and xattrs; truncated and altered
// archives are refused and leave no zone, template or staging behind.
func TestExportImportRoundTrip(t *testing.T) {
	d, mnt := btrfsPool(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "src"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.StartZone(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	d.mustExec("src", "sh", "-c", `echo mine > /root/f && chown 1000:1001 /root/f && chmod 4750 /root/f && ln /root/f /root/h &&
ln -s /etc/passwd /root/l && rm /bin/ls && rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/mine && mkdir -m 1700 /root/d`)
	if err := syscall.Setxattr(filepath.Join(d.dataDir, "zones", "src", "upper", "root", "f"), "user.zoned", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	want := d.mustExec("src", "sh", "-c", treeState)
	if !strings.Contains(want, "./root/f 1000:1001 4750 regular file 2 ") || strings.Contains(want, "./bin/ls ") || strings.Contains(want, "./usr/sbin/init") {
		t.Fatalf("source tree not as set up:\n%s", want)
	}
	out := t.TempDir()
	layerArc, fullArc := filepath.Join(out, "src.zoned"), filepath.Join(out, "src-full.zoned")
	// A running zone exports its layer (frozen meanwhile).
	if o, stderr, code := d.zonectl("", "export", "src", layerArc); code != 0 {
		t.Fatalf("export: %s %s", o, stderr)
	}
	if _, stderr, code := d.zonectl("", "export", "src", fullArc, "--full"); code == 0 || !strings.Contains(stderr, "stopped") {
		t.Fatalf("full export of a running overlay zone: %d %s", code, stderr)
	}
	if _, err := d.c.StopZone(ctx, "src", api.StopRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	if o, stderr, code := d.zonectl("", "export", "src", fullArc, "--full"); code != 0 {
		t.Fatalf("full export: %s %s", o, stderr)
	}
	if _, stderr, code := d.zonectl("", "export", "src", fullArc); code == 0 || !strings.Contains(stderr, "exists") {
		t.Fatalf("export over an existing file: %d %s", code, stderr)
	}

	check := func(zone, layerFile string) {
		t.Helper()
		if _, err := d.c.StartZone(ctx, zone); err != nil {
			t.Fatalf("start %s: %v\n%s", zone, err, d.logs())
		}
		if got := d.mustExec(zone, "sh", "-c", treeState); got != want {
			t.Fatalf("%s differs from the source:\n%s\nwant\n%s", zone, got, want)
		}
		if x := getXattr(t, layerFile, "user.zoned"); x != "kept" {
			t.Fatalf("%s: xattr %q", zone, x)
		}
	}
	// The layer into the btrfs pool: applied onto a snapshot of the
	// template, whiteouts and opaque directories included.
	if o, stderr, code := d.zonectl("", "import", layerArc, "--name", "dst-layer", "--pool", "b"); code != 0 {
		t.Fatalf("import: %s %s", o, stderr)
	}
	check("dst-layer", filepath.Join(mnt, "pool", "zones", "dst-layer", "rootfs", "root", "f"))
	// The whole root into the overlay pool, as a template of its own.
	if o, stderr, code := d.zonectl("", "import", fullArc, "--name", "dst-full"); code != 0 {
		t.Fatalf("import full: %s %s", o, stderr)
	}
	check("dst-full", filepath.Join(d.dataDir, "templates", "dst-full-root", "rootfs", "root", "f"))

	// Bad archives leave nothing.
	data, err := os.ReadFile(fullArc)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{"truncated": data[:len(data)*2/3], "altered": append([]byte(nil), data...), "not-an-archive": []byte("hello")}
	bad["altered"][len(data)/2] ^= 0x40
	// Altered inside a sound zstd frame: only the manifest can tell.
	for _, arc := range []string{layerArc, fullArc} {
		raw, err := os.ReadFile(arc)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := zstd.NewReader(nil)
		plain, err := dec.DecodeAll(raw, nil)
		dec.Close()
		if err != nil || !bytes.Contains(plain, []byte("mine\n")) {
			t.Fatalf("decode %s: %v", arc, err)
		}
		enc, _ := zstd.NewWriter(nil)
		bad["content-"+filepath.Base(arc)] = enc.EncodeAll(bytes.Replace(plain, []byte("mine\n"), []byte("mime\n"), 1), nil)
		enc.Close()
	}
	for name, b := range bad {
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := d.zonectl("", "import", p, "--name", "bad")
		if code == 0 {
			t.Fatalf("%s archive imported", name)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		t.Logf("%s: %s", name, lines[len(lines)-1])
		if _, err := d.c.GetZone(ctx, "bad"); err == nil {
			t.Fatalf("%s archive left zone bad", name)
		}
		if _, err := os.Stat(filepath.Join(d.dataDir, "zones", "bad")); !os.IsNotExist(err) {
			t.Fatalf("%s archive left the zone's directory", name)
		}
		if tp, _ := d.c.ListTemplates(ctx); len(tp) != 2 {
			t.Fatalf("%s archive left templates: %+v", name, tp)
		}
	}
	for _, z := range []string{"src", "dst-layer", "dst-full"} {
		if err := d.c.DestroyZone(ctx, z, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.c.DeletePool(ctx, "b"); err != nil {
		t.Fatal(err)
	}
}

// TestImportDiskFull: an import into a pool whose filesystem fills up
// fails with a clear error and leaves no zone and nothing in the pool.
func TestImportDiskFull(t *testing.T) {
	requireIDMappedOverlay(t)
	small := testfs.Loop(t, "ext4", 16)
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreatePool(ctx, api.CreatePoolRequest{Name: "small", Path: filepath.Join(small, "pool")}); err != nil {
		t.Fatal(err)
	}
	d.createStarted("big", api.Resources{})
	// Random bytes: zstd cannot shrink them below the pool's size.
	d.mustExec("big", "sh", "-c", "dd if=/dev/urandom of=/root/big bs=1M count=24 2>/dev/null")
	arc := filepath.Join(t.TempDir(), "big.zoned")
	if _, stderr, code := d.zonectl("", "export", "big", arc); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code := d.zonectl("", "import", arc, "--name", "big2", "--pool", "small")
	if code == 0 || !strings.Contains(stderr, "no space left") {
		t.Fatalf("import into a full pool: exit %d, %s", code, stderr)
	}
	if _, err := d.c.GetZone(ctx, "big2"); err == nil {
		t.Fatal("zone left after a failed import")
	}
	if left, _ := os.ReadDir(filepath.Join(small, "pool", "zones")); len(left) > 0 {
		t.Fatalf("pool keeps %v", left)
	}
	if err := d.c.DestroyZone(ctx, "big", true); err != nil {
		t.Fatal(err)
	}
	if err := d.c.DeletePool(ctx, "small"); err != nil {
		t.Fatal(err)
	}
}
