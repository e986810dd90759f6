//go:build linux

// Package procview serves the LXCFS-style view a zone gets of its own
// resources: /proc/meminfo, /proc/cpuinfo, /proc/stat, /proc/uptime,
// /proc/loadavg and /sys/devices/system/cpu/online computed from the zone's
// cgroup, so free, top, uptime and nproc inside a zone show its plan and
// not the host.
//
// The files are served over FUSE by a process of their own (`zoned
// viewfs`), one mount with a directory per zone, which reads each zone's
// cgroup files directly: zones keep their view while the daemon restarts
// or is upgraded. The daemon only writes a small file per running zone
// (Config) into the view's state directory and starts the server when it
// is not running; each zone's init bind-mounts its directory's files over
// the /proc and /sys paths.
//
// This file renders the contents from a Snapshot; it needs no kernel.
package procview

import (
	"bufio"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
)

// Files maps the name of each file the view serves for a zone to the path
// inside the zone it is bind-mounted over.
var Files = map[string]string{
	"meminfo": "/proc/meminfo",
	"cpuinfo": "/proc/cpuinfo",
	"stat":    "/proc/stat",
	"uptime":  "/proc/uptime",
	"loadavg": "/proc/loadavg",
	"online":  "/sys/devices/system/cpu/online",
}

// Snapshot is what a zone's files are computed from.
type Snapshot struct {
	// MemLimit is the zone's memory limit in bytes (0: none, the host's).
	MemLimit, MemUsage, MemCache uint64
	// MemShmem and MemSlabReclaimable are the zone's shared memory
	// (tmpfs, SysV) and reclaimable kernel memory, both in MemUsage.
	MemShmem, MemSlabReclaimable uint64
	// SwapLimit is the swap the zone may use beyond MemLimit (0: none).
	SwapLimit, SwapUsage uint64
	// CPUs are the host CPUs the zone may run on, in order.
	CPUs []int
	// CPUQuota is the zone's CPU cap in CPUs (1.5), 0 for none.
	CPUQuota float64
	// CPUUserTicks and CPUSystemTicks are the zone's CPU time in USER_HZ.
	CPUUserTicks, CPUSystemTicks uint64
	// Uptime is how long the zone's init has run, in seconds.
	Uptime float64
	// Load are the 1, 5 and 15 minute averages of runnable tasks;
	// Running and Tasks count them now; LastPID is the newest task, by
	// its number in the zone's own PID namespace.
	Load          [3]float64
	Running       int
	Tasks         int
	LastPID       int
	HostMeminfo   string
	HostCPUinfo   string
	HostStat      string
	HostMemTotal  uint64
	HostSwapTotal uint64
	// lastPIDOf, when set, computes LastPID at its first use: it reads
	// every task's status, which only loadavg and stat need.
	lastPIDOf func() int
	lastOnce  sync.Once
}

// lastPID is LastPID, computed on first use when Snap left it to be.
func (s *Snapshot) lastPID() int {
	s.lastOnce.Do(func() {
		if s.lastPIDOf != nil {
			s.LastPID = s.lastPIDOf()
		}
	})
	return s.LastPID
}

// NCPU is the number of CPUs the zone sees: its cpuset, and no more than
// its CPU cap rounded up.
func (s *Snapshot) NCPU() int {
	n := len(s.CPUs)
	if s.CPUQuota > 0 {
		if q := int(math.Ceil(s.CPUQuota - 1e-9)); q < n {
			n = q
		}
	}
	if n < 1 {
		n = 1
	}
	return n
}

// Render returns the contents of the view file name.
func Render(name string, s *Snapshot) ([]byte, error) {
	switch name {
	case "meminfo":
		return meminfo(s), nil
	case "cpuinfo":
		return cpuinfo(s), nil
	case "stat":
		return stat(s), nil
	case "uptime":
		idle := s.Uptime*float64(s.NCPU()) - float64(s.CPUUserTicks+s.CPUSystemTicks)/userHZ
		if idle < 0 {
			idle = 0
		}
		return []byte(fmt.Sprintf("%.2f %.2f\n", s.Uptime, idle)), nil
	case "loadavg":
		return []byte(fmt.Sprintf("%.2f %.2f %.2f %d/%d %d\n", s.Load[0], s.Load[1], s.Load[2], s.Running, s.Tasks, s.lastPID())), nil
	case "online":
		if n := s.NCPU(); n > 1 {
			return []byte(fmt.Sprintf("0-%d\n", n-1)), nil
		}
		return []byte("0\n"), nil
	}
	return nil, fmt.Errorf("no view file %q", name)
}

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on Linux).
const userHZ = 100

// Memory is the zone's memory as its /proc/meminfo and sysinfo(2) show
// it, in bytes: both are computed here so that free from procps (which
// reads meminfo) and from busybox (which calls sysinfo) agree.
type Memory struct {
	Total, Free, Available, Cached uint64
	Shmem, SlabReclaimable         uint64
	SwapTotal, SwapFree            uint64
}

// MemoryOf is the zone's memory: its limit as the total (the host's when
// it has none or a larger one), its usage as used.
func MemoryOf(s *Snapshot) Memory {
	total := s.HostMemTotal
	if s.MemLimit > 0 && s.MemLimit < total {
		total = s.MemLimit
	}
	used := s.MemUsage
	if used > total {
		used = total
	}
	cache := min(s.MemCache, used)
	// free(1) counts SReclaimable as cache too: it must fit in the rest.
	slab := min(s.MemSlabReclaimable, used-cache)
	swapTotal := s.SwapLimit
	if s.MemLimit == 0 {
		swapTotal = s.HostSwapTotal
	}
	swapUsed := s.SwapUsage
	if swapUsed > swapTotal {
		swapUsed = swapTotal
	}
	return Memory{
		Total: total, Free: total - used, Available: total - used + cache + slab, Cached: cache,
		Shmem: min(s.MemShmem, cache), SlabReclaimable: slab,
		SwapTotal: swapTotal, SwapFree: swapTotal - swapUsed,
	}
}

func meminfo(s *Snapshot) []byte {
	m := MemoryOf(s)
	set := map[string]uint64{
		"MemTotal":     m.Total,
		"MemFree":      m.Free,
		"MemAvailable": m.Available,
		"Buffers":      0,
		"Cached":       m.Cached,
		"SwapCached":   0,
		"Shmem":        m.Shmem,
		"SReclaimable": m.SlabReclaimable,
		"SwapTotal":    m.SwapTotal,
		"SwapFree":     m.SwapFree,
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s.HostMeminfo))
	for sc.Scan() {
		line := sc.Text()
		key, _, _ := strings.Cut(line, ":")
		if v, ok := set[key]; ok {
			fmt.Fprintf(&b, "%-16s%8d kB\n", key+":", v/1024)
			continue
		}
		b.WriteString(line + "\n")
	}
	return []byte(b.String())
}

// cpuinfo keeps the host's blocks of the zone's CPUs, numbered from 0 as
// the zone sees them.
func cpuinfo(s *Snapshot) []byte {
	want := visible(s)
	var b strings.Builder
	n := 0
	for _, block := range strings.Split(strings.TrimSpace(s.HostCPUinfo), "\n\n") {
		first, rest, _ := strings.Cut(block, "\n")
		k, v, ok := strings.Cut(first, ":")
		if !ok || strings.TrimSpace(k) != "processor" {
			continue
		}
		id, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || !want[id] {
			continue
		}
		fmt.Fprintf(&b, "processor\t: %d\n%s\n\n", n, rest)
		n++
	}
	return []byte(b.String())
}

// visible is the set of host CPUs shown: the first NCPU of the cpuset.
func visible(s *Snapshot) map[int]bool {
	want := map[int]bool{}
	for i, c := range s.CPUs {
		if i < s.NCPU() {
			want[c] = true
		}
	}
	return want
}

// stat shows the zone's own CPU time, spread over its CPUs, the rest of
// each CPU's share of its uptime as idle, and the host's other lines.
func stat(s *Snapshot) []byte {
	n := uint64(s.NCPU())
	user, system := s.CPUUserTicks, s.CPUSystemTicks
	all := uint64(s.Uptime*userHZ) * n
	idle := uint64(0)
	if all > user+system {
		idle = all - user - system
	}
	var b strings.Builder
	line := func(name string, u, sy, id uint64) {
		fmt.Fprintf(&b, "%s %d 0 %d %d 0 0 0 0 0 0\n", name, u, sy, id)
	}
	line("cpu ", user, system, idle)
	for i := uint64(0); i < n; i++ {
		line("cpu"+strconv.FormatUint(i, 10), user/n, system/n, idle/n)
	}
	sc := bufio.NewScanner(strings.NewReader(s.HostStat))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "cpu") {
			continue
		}
		switch {
		case strings.HasPrefix(l, "procs_running "):
			l = fmt.Sprintf("procs_running %d", s.Running)
		case strings.HasPrefix(l, "processes "):
			l = fmt.Sprintf("processes %d", s.lastPID())
		}
		b.WriteString(l + "\n")
	}
	return []byte(b.String())
}
