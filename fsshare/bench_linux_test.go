package fsshare

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/zoned-project/zoned/quota"
)

// BenchmarkZoneRoot100 times the storage share of a zone create (its
// layer, ID mapping and identity files) for 100 zones from one template
// on each backend: what the manager's create adds on top (store
// transactions, the idmapped-root probe) is measured by the integration
// benchmark BenchmarkCreateZones100.
func BenchmarkZoneRoot100(b *testing.B) {
	requireRoot(b)
	for _, backend := range []string{BackendOverlay, BackendBtrfs} {
		b.Run(backend, func(b *testing.B) {
			s, err := New(filepath.Join(b.TempDir(), "data"))
			if err != nil {
				b.Fatal(err)
			}
			pool := DefaultPool
			if backend == BackendBtrfs {
				if _, err := s.AddPool("b", filepath.Join(newBtrfs(b, 512), "pool"), ""); err != nil {
					b.Fatal(err)
				}
				pool = "b"
			}
			if err := s.BuildBuiltin(context.Background(), "bb"); err != nil {
				b.Fatal(err)
			}
			// The btrfs pool's template copy is made once, by the first
			// zone; it is not part of a zone's cost.
			if err := zvIn(b, s, pool, "warm").Create("bb", quota.Limits{}); err != nil {
				b.Fatal(err)
			}
			var d []time.Duration
			for i := 0; i < 100; i++ {
				z := fmt.Sprintf("z%d", i)
				start := time.Now()
				if err := zvIn(b, s, pool, z).Create("bb", quota.Limits{}); err != nil {
					b.Fatal(err)
				}
				if err := zv(s, z).MapIDs(uint32(1+i) << 16); err != nil {
					b.Fatal(err)
				}
				for _, f := range []string{"/etc/hostname", "/etc/machine-id"} {
					if err := zv(s, z).WriteFile(f, []byte(z+"\n"), 0o644); err != nil {
						b.Fatal(err)
					}
				}
				d = append(d, time.Since(start))
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			b.ReportMetric(float64(d[50])/1e6, "median-ms")
			b.ReportMetric(float64(d[0])/1e6, "min-ms")
			for i := 0; i < 100; i++ {
				if err := zv(s, fmt.Sprintf("z%d", i)).Delete(); err != nil {
					b.Fatal(err)
				}
			}
			if err := zv(s, "warm").Delete(); err != nil {
				b.Fatal(err)
			}
			if pool != DefaultPool {
				if err := s.RemovePool(pool); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
