//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/testfs"
)

// BenchmarkCreateZones100 creates 100 zones (ZONED_BENCH_ZONES) from one template through the
// API on each backend, each pool on a filesystem of its own so its used
// bytes are the zones' alone, and reports the median create time and the
// disk the zones take before they write anything. ZONED_BENCH_TEMPLATE=
// debootstrap uses a minimal Debian bookworm template with systemd (the debootstrap
// cache makes it quick after the first run); the default is busybox.
func BenchmarkCreateZones100(b *testing.B) {
	requireRoot(b)
	n := benchZones(b, 100) // the CI smoke run makes fewer
	ovMnt := testfs.Loop(b, "ext4", 512)
	btMnt := testfs.Loop(b, "btrfs", 1024)
	d := startDaemon(b)
	ctx := benchCtx(b)
	tmpl := "busybox"
	if os.Getenv("ZONED_BENCH_TEMPLATE") == "debootstrap" {
		tmpl = "debian"
		op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: tmpl, From: "debootstrap", Suite: "bookworm", Include: []string{"systemd-sysv"}})
		if err != nil {
			b.Fatal(err)
		}
		if op, err = d.c.WaitOperation(ctx, op.ID, 30*time.Minute); err != nil || op.Status != api.OperationSuccess {
			b.Fatalf("debootstrap template: %v %+v", err, op)
		}
	} else if _, stderr, code := d.zonectl("", "template", "create", tmpl, "--from", "builtin"); code != 0 {
		b.Fatal(stderr)
	}
	t, err := d.c.GetTemplate(ctx, tmpl)
	if err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%d zones from template %s (%.1f MiB) per backend\n\n| backend | median create ms | min ms | max ms | disk used by the zones | per zone |\n|---|---:|---:|---:|---:|---:|\n", n, tmpl, float64(t.SizeBytes)/(1<<20))
	for _, p := range []struct{ name, dir string }{{"overlay", ovMnt}, {"btrfs", btMnt}} {
		if _, err := d.c.CreatePool(ctx, api.CreatePoolRequest{Name: p.name, Path: filepath.Join(p.dir, "pool"), Backend: p.name}); err != nil {
			b.Fatal(err)
		}
		// The first zone pays for the btrfs pool's template copy: made
		// once per pool, not per zone, and counted in the disk figure.
		syncFS(b, p.dir)
		before := usedBytes(b, p.dir)
		var times samples
		for i := 0; i < n; i++ {
			start := time.Now()
			if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: fmt.Sprintf("%s%d", p.name[:2], i), Template: tmpl, Pool: p.name}); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		syncFS(b, p.dir)
		used := usedBytes(b, p.dir) - before
		fmt.Fprintf(&out, "| %s | %.1f | %.1f | %.1f | %.2f MiB | %.1f KiB |\n", p.name, ms(times.median()), ms(times.min()), ms(times.max()), float64(used)/(1<<20), float64(used)/float64(n)/1024)
		b.ReportMetric(ms(times.median()), p.name+"-median-ms")
	}
	report(b, "%s", out.String())
	for _, p := range []string{"overlay", "btrfs"} {
		for i := 0; i < n; i++ {
			if err := d.c.DestroyZone(ctx, fmt.Sprintf("%s%d", p[:2], i), true); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.c.DeletePool(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// usedBytes is what the filesystem at dir has in use.
func usedBytes(b *testing.B, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize
}

// syncFS flushes dir's filesystem so its counters include delayed
// allocations (btrfs updates them at commit).
func syncFS(b *testing.B, dir string) {
	f, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
}

// dropTemplateCache evicts a template's files from the page cache
// (fadvise DONTNEED on its own files only), so zones that read them are
// charged for the pages they bring in rather than the daemon that wrote
// them.
func dropTemplateCache(b *testing.B, root string) {
	b.Helper()
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIdleMemorySharing starts N idle busybox zones (default 50,
// ZONED_BENCH_ZONES) sharing one template, then N zones each on a full
// copy of it, and reports the memory their cgroups are charged (page cache
// and anonymous): shared template files are cached once for all zones.
func BenchmarkIdleMemorySharing(b *testing.B) {
	requireRoot(b)
	n := benchZones(b, 50)
	d := startDaemon(b)
	ctx := benchCtx(b)
	if _, stderr, code := d.zonectl("", "template", "create", "busybox", "--from", "builtin"); code != 0 {
		b.Fatal(stderr)
	}
	src := filepath.Join(d.dataDir, "templates", "busybox", "rootfs")
	templates := make([]string, n)
	for i := range templates {
		templates[i] = "busybox"
	}
	copies := make([]string, n)
	for i := range copies {
		copies[i] = fmt.Sprintf("copy%d", i)
		if _, stderr, code := d.zonectl("", "template", "create", copies[i], "--from", "dir", src); code != 0 {
			b.Fatal(stderr)
		}
	}
	measure := func(prefix string, tmpls []string) (usage, anon uint64) {
		for _, t := range tmpls {
			dropTemplateCache(b, filepath.Join(d.dataDir, "templates", t, "rootfs"))
		}
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("%s%d", prefix, i)
			if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: names[i], Template: tmpls[i]}); err != nil {
				b.Fatal(err)
			}
			if _, err := d.c.StartZone(ctx, names[i]); err != nil {
				b.Fatal(err)
			}
		}
		// Idle: booted (their rc scripts done) and answering.
		for _, name := range names {
			if r := d.exec(name, "", "true"); r.code != 0 {
				b.Fatalf("zone %s: %+v", name, r)
			}
		}
		for _, name := range names {
			u, a := d.zoneMemory(b, name)
			usage += u
			anon += a
		}
		for _, name := range names {
			if err := d.c.DestroyZone(ctx, name, true); err != nil {
				b.Fatal(err)
			}
		}
		return usage, anon
	}
	su, sa := measure("sh", templates)
	cu, ca := measure("cp", copies)
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	report(b, "\n%d idle busybox zones, memory charged to their cgroups\n\n| zones on | total | page cache | anonymous | per zone |\n|---|---:|---:|---:|---:|\n"+
		"| one shared template | %.1f MiB | %.1f MiB | %.1f MiB | %.2f MiB |\n| a full copy each | %.1f MiB | %.1f MiB | %.1f MiB | %.2f MiB |\n",
		n, mib(su), mib(su-sa), mib(sa), mib(su)/float64(n), mib(cu), mib(cu-ca), mib(ca), mib(cu)/float64(n))
	b.ReportMetric(mib(su)/float64(n), "shared-MiB/zone")
	b.ReportMetric(mib(cu)/float64(n), "copies-MiB/zone")
	for _, c := range copies {
		if err := d.c.DeleteTemplate(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
