//go:build linux

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/testfs"
)

// benchWriteMiB is what each iteration writes, with fsync, so the number
// measures the disk path and not the page cache.
const benchWriteMiB = 64

func ddArgs(path string) []string {
	return []string{"dd", "if=/dev/zero", "of=" + path, "bs=1M", "count=" + strconv.Itoa(benchWriteMiB), "conv=fsync"}
}

// benchHostWrite writes in dir on the host, outside any zone.
func benchHostWrite(b *testing.B, dir string) {
	b.SetBytes(benchWriteMiB << 20)
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command(ddArgs(filepath.Join(dir, "bench"))[0], ddArgs(filepath.Join(dir, "bench"))[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("dd on the host: %v: %s", err, out)
		}
	}
	os.Remove(filepath.Join(dir, "bench"))
}

// benchZoneWrite writes inside a zone with res.
func benchZoneWrite(b *testing.B, d *daemon, name string, res api.Resources) {
	d.createStarted(name, res)
	b.SetBytes(benchWriteMiB << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := d.exec(name, "", ddArgs("/root/bench")...); r.code != 0 {
			b.Fatalf("dd in zone %s: %s", name, r.stderr)
		}
	}
}

// BenchmarkDiskWrite compares writing 64 MiB (fsync'd) inside a zone under
// each quota backend this host has with the same write outside any zone on
// the same filesystem: host filesystem (image backend and no quota) and a
// loop-mounted btrfs (qgroups).
func BenchmarkDiskWrite(b *testing.B) {
	d := startDaemon(b)
	b.Run("host-fs/outside", func(b *testing.B) { benchHostWrite(b, d.dataDir) })
	b.Run("host-fs/zone-no-quota", func(b *testing.B) { benchZoneWrite(b, d, "bn-"+randomSuffix(), api.Resources{}) })
	b.Run("host-fs/zone-image", func(b *testing.B) {
		benchZoneWrite(b, d, "bi-"+randomSuffix(), api.Resources{DiskBytes: 512 << 20})
	})
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil || !filesystemSupported("btrfs") {
		b.Log("no btrfs here: qgroup figures skipped")
		return
	}
	mnt := testfs.Loop(b, "btrfs", 2048)
	bd := startDaemon(b, inDataDir(filepath.Join(mnt, "data")))
	b.Run("btrfs/outside", func(b *testing.B) {
		dir := filepath.Join(mnt, "outside")
		os.MkdirAll(dir, 0o700)
		benchHostWrite(b, dir)
	})
	b.Run("btrfs/zone-qgroup", func(b *testing.B) {
		benchZoneWrite(b, bd, "bq-"+randomSuffix(), api.Resources{DiskBytes: 512 << 20})
	})
}
