//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Machine describes where the figures were taken.
type Machine struct {
	CPU        string  `json:"cpu"`
	Cores      int     `json:"cores"`
	MemoryGiB  float64 `json:"memory_gib"`
	Kernel     string  `json:"kernel"`
	CgroupMode string  `json:"cgroup_mode"`
	Debian     string  `json:"debian"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run
	// began and ended: on a shared machine they say how quiet it was.
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	var l float64
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(data), &l)
	}
	return l
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: "unknown", Debian: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				fmt.Sscan(strings.TrimSpace(rest), &kb)
			}
		}
		m.MemoryGiB = kb / (1 << 20)
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		b := make([]byte, 0, len(u.Release))
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		m.Kernel = string(b)
	}
	m.CgroupMode = cgroupMode()
	m.LoadStart = loadAvg()
	if data, err := os.ReadFile("/etc/debian_version"); err == nil {
		m.Debian = strings.TrimSpace(string(data))
	}
	return m
}

// cgroupMode says how cgroups are mounted: unified v2, hybrid (v1
// controllers plus an empty cgroup2) or legacy v1.
func cgroupMode() string {
	const cgroup2Magic = 0x63677270
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == cgroup2Magic {
		return "unified (v2)"
	}
	if syscall.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == cgroup2Magic {
		return "hybrid (v1 controllers, empty cgroup2)"
	}
	return "legacy (v1)"
}

func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %.0f GiB RAM, kernel %s, cgroups %s, Debian %s",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.CgroupMode, m.Debian)
}
