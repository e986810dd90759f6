//go:build linux

package procview

import (
	"strings"
	"testing"
)

const hostMeminfo = `MemTotal:       24683620 kB
MemFree:        22211148 kB
MemAvailable:   22000000 kB
Buffers:           10000 kB
Cached:           358572 kB
SwapCached:            0 kB
Active:           100000 kB
Shmem:             90000 kB
SReclaimable:     300000 kB
SwapTotal:       1048576 kB
SwapFree:        1048576 kB
`

const hostCPUinfo = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\nprocessor\t: 2\nmodel name\t: X\n\nprocessor\t: 3\nmodel name\t: X\n"

func TestRenderMeminfoFromLimits(t *testing.T) {
	s := &Snapshot{MemLimit: 256 << 20, MemUsage: 100 << 20, MemCache: 40 << 20, SwapLimit: 64 << 20, SwapUsage: 16 << 20,
		MemShmem: 8 << 20, MemSlabReclaimable: 10 << 20,
		HostMeminfo: hostMeminfo, HostMemTotal: 24683620 << 10, HostSwapTotal: 1 << 30}
	b, _ := Render("meminfo", s)
	want := map[string]string{"MemTotal": "262144 kB", "MemFree": "159744 kB", "MemAvailable": "210944 kB", "Cached": "40960 kB",
		"Shmem": "8192 kB", "SReclaimable": "10240 kB",
		"SwapTotal": "65536 kB", "SwapFree": "49152 kB", "Buffers": "0 kB", "Active": "100000 kB"}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if w, ok := want[k]; ok {
			if strings.TrimSpace(v) != w {
				t.Errorf("%s = %q, want %q", k, strings.TrimSpace(v), w)
			}
			delete(want, k)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing lines %v in\n%s", want, b)
	}
	// Without a limit the zone sees the host's memory and swap.
	b, _ = Render("meminfo", &Snapshot{HostMeminfo: hostMeminfo, HostMemTotal: 24683620 << 10, HostSwapTotal: 1 << 30})
	if !strings.Contains(string(b), "MemTotal:       24683620 kB") || !strings.Contains(string(b), "SwapTotal:       1048576 kB") {
		t.Errorf("unlimited zone:\n%s", b)
	}
}

func TestRenderCPUsFromCpusetAndCap(t *testing.T) {
	for _, tc := range []struct {
		cpus   []int
		quota  float64
		online string
		n      int
	}{
		{[]int{0, 1, 2, 3}, 0, "0-3\n", 4},
		{[]int{2}, 0, "0\n", 1},
		{[]int{0, 1, 2, 3}, 1.5, "0-1\n", 2},
		{[]int{0, 1, 2, 3}, 0.5, "0\n", 1},
		{[]int{1, 3}, 3, "0-1\n", 2},
	} {
		s := &Snapshot{CPUs: tc.cpus, CPUQuota: tc.quota, HostCPUinfo: hostCPUinfo, HostStat: "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nprocs_running 9\n", Uptime: 10}
		online, _ := Render("online", s)
		if string(online) != tc.online {
			t.Errorf("%v cap %v: online %q, want %q", tc.cpus, tc.quota, online, tc.online)
		}
		info, _ := Render("cpuinfo", s)
		if got := strings.Count(string(info), "processor\t:"); got != tc.n {
			t.Errorf("%v cap %v: cpuinfo has %d processors, want %d", tc.cpus, tc.quota, got, tc.n)
		}
		if !strings.HasPrefix(string(info), "processor\t: 0\n") {
			t.Errorf("cpuinfo not numbered from 0:\n%s", info)
		}
		stat, _ := Render("stat", s)
		if got := strings.Count(string(stat), "\ncpu"); got != tc.n {
			t.Errorf("%v cap %v: stat has %d per-CPU lines, want %d:\n%s", tc.cpus, tc.quota, got, tc.n, stat)
		}
		if !strings.Contains(string(stat), "intr 5\n") || !strings.Contains(string(stat), "procs_running 0\n") {
			t.Errorf("stat's other lines:\n%s", stat)
		}
	}
}

func TestRenderUptimeAndLoad(t *testing.T) {
	s := &Snapshot{CPUs: []int{0, 1}, Uptime: 12.5, CPUUserTicks: 300, CPUSystemTicks: 200, Load: [3]float64{1, 0.5, 0.25}, Running: 1, Tasks: 7, LastPID: 42}
	up, _ := Render("uptime", s)
	if string(up) != "12.50 20.00\n" {
		t.Errorf("uptime = %q", up)
	}
	la, _ := Render("loadavg", s)
	if string(la) != "1.00 0.50 0.25 1/7 42\n" {
		t.Errorf("loadavg = %q", la)
	}
	if _, err := Render("nope", s); err == nil {
		t.Error("Render of an unknown file succeeded")
	}
}
