//go:build linux

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// fakeOnline points OnlineCPUs at a file listing "0-3", so the tests do not
// depend on the machine's CPU count.
func fakeOnline(t *testing.T) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "online")
	if err := os.WriteFile(p, []byte("0-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := onlinePath
	onlinePath = p
	t.Cleanup(func() { onlinePath = saved })
}

func fakeMeminfo(t *testing.T, total int64) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte(fmt.Sprintf("MemTotal: %d kB\nMemFree: 1 kB\n", total>>10)), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := meminfoPath
	meminfoPath = p
	t.Cleanup(func() { meminfoPath = saved })
}

func TestSetBlockIO(t *testing.T) {
	dev := &Device{254, 0}
	res := &specs.LinuxResources{}
	SetBlockIO(res, api.Resources{IOWeight: 300, IOWriteBPS: 1 << 20, IOReadIOPS: 7}, dev)
	rates := ioRatesOf(res)
	if got := rates[*dev]; got == nil || *got != (ioRates{0, 1 << 20, 7, 0}) {
		t.Errorf("rates = %v, want write bps and read iops on 254:0", got)
	}
	if ioWeight(res) != 300 {
		t.Errorf("weight = %d", ioWeight(res))
	}
	SetBlockIO(res, api.Resources{}, dev)
	if res.BlockIO != nil {
		t.Errorf("no IO limits left BlockIO %+v", res.BlockIO)
	}
	if !HasIOCaps(api.Resources{IOReadBPS: 1}) || HasIOCaps(api.Resources{IOWeight: 5}) {
		t.Error("HasIOCaps is wrong")
	}
}

func TestValidate(t *testing.T) {
	fakeOnline(t)
	fakeMeminfo(t, 8<<30)
	for _, tc := range []struct {
		name  string
		r     api.Resources
		field string // "" means valid
	}{
		{"zero is unlimited", api.Resources{}, ""},
		{"full plan", api.Resources{MemoryBytes: 1 << 30, SwapBytes: 512 << 20, CPUs: "0-1,3", CPULimitPercent: 400, CPUWeight: 10000, PidsMax: 1}, ""},
		{"negative memory", api.Resources{MemoryBytes: -1}, "memory_bytes"},
		{"memory below 4 MiB", api.Resources{MemoryBytes: 4<<20 - 1}, "memory_bytes"},
		{"negative swap", api.Resources{MemoryBytes: 1 << 30, SwapBytes: -5}, "swap_bytes"},
		{"swap without memory", api.Resources{SwapBytes: 1 << 20}, "swap_bytes"},
		{"negative cpu limit", api.Resources{CPULimitPercent: -10}, "cpu_limit_percent"},
		{"cpu limit above host", api.Resources{CPULimitPercent: 401}, "cpu_limit_percent"},
		{"weight above range", api.Resources{CPUWeight: 10001}, "cpu_weight"},
		{"negative pids", api.Resources{PidsMax: -1}, "pids_max"},
		{"cpuset syntax", api.Resources{CPUs: "0-"}, "cpus"},
		{"cpuset backwards", api.Resources{CPUs: "3-1"}, "cpus"},
		{"cpuset letters", api.Resources{CPUs: "a"}, "cpus"},
		{"cpu not on host", api.Resources{CPUs: "0,4"}, "cpus"},
		{"memory above host RAM", api.Resources{MemoryBytes: 8<<30 + 1}, "memory_bytes"},
		{"memory at host RAM", api.Resources{MemoryBytes: 8 << 30}, ""},
		{"io plan", api.Resources{IOWeight: 500, IOReadBPS: 10 << 20, IOWriteBPS: 1, IOReadIOPS: 100, IOWriteIOPS: 50}, ""},
		{"io weight above range", api.Resources{IOWeight: 10001}, "io_weight"},
		{"negative read bps", api.Resources{IOReadBPS: -1}, "io_read_bps"},
		{"negative write bps", api.Resources{IOWriteBPS: -1}, "io_write_bps"},
		{"negative read iops", api.Resources{IOReadIOPS: -1}, "io_read_iops"},
		{"negative write iops", api.Resources{IOWriteIOPS: -1}, "io_write_iops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.r)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name field %s", err, tc.field)
			}
		})
	}
}

func TestToSpec(t *testing.T) {
	if res := ToSpec(api.Resources{}); res.Memory != nil || res.CPU != nil || res.Pids != nil || res.Unified != nil {
		t.Errorf("ToSpec(zero) = %+v, want no limits", res)
	}
	res := ToSpec(api.Resources{MemoryBytes: 512 << 20, SwapBytes: 256 << 20, CPULimitPercent: 150, CPUs: "1", CPUWeight: 50, PidsMax: 300})
	if *res.Memory.Limit != 512<<20 || *res.Memory.Swap != 768<<20 {
		t.Errorf("memory = %d/%d", *res.Memory.Limit, *res.Memory.Swap)
	}
	if *res.CPU.Quota != 150000 || *res.CPU.Period != 100000 || res.CPU.Cpus != "1" {
		t.Errorf("cpu = %+v", res.CPU)
	}
	if *res.CPU.Shares != 512 || res.Unified[UnifiedCPUWeight] != "50" {
		t.Errorf("weight 50 gave shares %d, unified %v", *res.CPU.Shares, res.Unified)
	}
	if *res.Pids.Limit != 300 {
		t.Errorf("pids = %d", *res.Pids.Limit)
	}
	noSwap := ToSpec(api.Resources{MemoryBytes: 64 << 20})
	if *noSwap.Memory.Swap != *noSwap.Memory.Limit {
		t.Errorf("memory without swap: swap %d != limit %d", *noSwap.Memory.Swap, *noSwap.Memory.Limit)
	}
	for w, s := range map[uint64]uint64{1: 10, 100: 1024, 10000: 102400} {
		if got := WeightToShares(w); got != s {
			t.Errorf("WeightToShares(%d) = %d, want %d", w, got, s)
		}
	}
	if WeightToShares(0) != 2 {
		t.Error("shares must be clamped to 2")
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := ParseCPUList("0-2,5,7-7\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []int{0, 1, 2, 5, 7} {
		if !got[c] {
			t.Errorf("CPU %d missing from %v", c, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("got %v", got)
	}
}

// The v2 device filter is built by containerd's cgroup2.DeviceFilter, which
// dereferences Major and Minor of every rule; nil wildcards panicked there.
func TestDefaultDevicesBuildAnEBPFFilter(t *testing.T) {
	for _, d := range DefaultDevices() {
		if d.Major == nil || d.Minor == nil {
			t.Fatalf("rule %+v has a nil number", d)
		}
	}
	if _, _, err := cgroup2.DeviceFilter(DefaultDevices()); err != nil {
		t.Fatal(err)
	}
}
