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

// BenchmarkCreateZones100 creates 100 zones from one template through the
// API on each backend, each pool on a filesystem of its own so its used
// bytes are the zones' alone, and reports the median create time and the
// disk the zones take before they write anything. ZONED_BENCH_TEMPLATE=
// debootstrap uses a minimal Debian bookworm template (the debootstrap
// cache makes it quick after the first run); the default is busybox.
func BenchmarkCreateZones100(b *testing.B) {
	requireRoot(b)
	const n = 100
	ovMnt := testfs.Loop(b, "ext4", 512)
	btMnt := testfs.Loop(b, "btrfs", 1024)
	d := startDaemon(b)
	ctx := benchCtx(b)
	tmpl := "busybox"
	if os.Getenv("ZONED_BENCH_TEMPLATE") == "debootstrap" {
		tmpl = "debian"
		op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: tmpl, From: "debootstrap", Suite: "bookworm"})
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
		fmt.Fprintf(&out, "| %s | %.1f | %.1f | %.1f | %.2f MiB | %.1f KiB |\n", p.name, ms(times.median()), ms(times.min()), ms(times.max()), float64(used)/(1<<20), float64(used)/n/1024)
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
