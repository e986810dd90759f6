//go:build linux

package integration

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// TestMeasureStorms is not a check but a measurement (set
// ZONED_MEASURE_STORMS=1): what storms of kernel objects in an unprivileged
// zone cost the host's slab, against what the zone's memory cgroup is
// charged. docs/resources.md quotes its figures.
func TestMeasureStorms(t *testing.T) {
	if os.Getenv("ZONED_MEASURE_STORMS") == "" {
		t.Skip("a measurement: set ZONED_MEASURE_STORMS=1")
	}
	d := startDaemonWith(t, []string{"-zone-userns-limit", "max_mnt_namespaces=100000", "-zone-userns-limit", "max_net_namespaces=100000"})
	d.createEscapeZoneAs(t, "meas", api.Resources{MemoryBytes: 2 << 30}, false)
	usage := func() int64 {
		f := "memory.usage_in_bytes"
		if isUnified() {
			f = "memory.current"
		}
		n, _ := strconv.ParseInt(d.cgroupFile("meas", "memory", f), 10, 64)
		return n
	}
	for _, c := range [][]string{
		{"mounts", "tmpfs", "5000"},
		{"mounts", "bind", "5000"},
		{"unshare", "mnt", "1000"},
		{"unshare", "net", "200"},
		{"inotify", "100"},
	} {
		dropCaches()
		time.Sleep(time.Second)
		s0, u0, p0 := slab(), usage(), meminfo("Percpu:")
		args := append(append([]string{}, c...), "hold")
		d.mustExec("meas", "sh", "-c", "/usr/local/bin/escape "+strings.Join(args, " ")+" > /tmp/m 2>&1 & echo $! > /tmp/m.pid")
		waitFor(t, 120*time.Second, "storm", func() bool {
			return len(strings.Fields(d.exec("meas", "", "cat", "/tmp/m").stdout)) == 2
		})
		out := strings.Fields(d.exec("meas", "", "cat", "/tmp/m").stdout)
		time.Sleep(time.Second)
		s1, u1, p1 := slab(), usage(), meminfo("Percpu:")
		n, _ := strconv.Atoi(out[1])
		t.Logf("%v: %s %d made; host slab +%d KiB, percpu +%d KiB, zone charged +%d KiB; per object %d B slab, %d B percpu, %d B charged",
			c, out[0], n, (s1-s0)/1024, (p1-p0)/1024, (u1-u0)/1024, (s1-s0)/int64(max(n, 1)), (p1-p0)/int64(max(n, 1)), (u1-u0)/int64(max(n, 1)))
		d.mustExec("meas", "sh", "-c", "kill $(cat /tmp/m.pid)")
		time.Sleep(2 * time.Second)
	}
}

// slab is the host's Slab from /proc/meminfo, in bytes.
func slab() int64 { return meminfo("Slab:") }

// meminfo is one /proc/meminfo field ("Slab:", "Percpu:"), in bytes.
func meminfo(field string) int64 {
	f, _ := os.Open("/proc/meminfo")
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

func dropCaches() { _ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0) }
