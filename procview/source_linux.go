package procview

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/cgroups"
)

// Config is what the daemon tells the view about one running zone, in
// STATE/zones/NAME.json.
type Config struct {
	// Cgroup is the zone's absolute cgroup path.
	Cgroup string `json:"cgroup"`
	// InitPID and InitStart (clock ticks after boot, /proc/PID/stat's
	// field 22) name the zone's init, whose age is the zone's uptime.
	InitPID   int    `json:"init_pid"`
	InitStart uint64 `json:"init_start"`
	// Disk, when set, is the zone's disk quota as statfs(2) inside the
	// zone reports it (see statfs_linux.go).
	Disk *DiskQuota `json:"disk,omitempty"`
}

// DiskQuota names the kernel files that hold a zone's disk use and limit
// where its root filesystem's statfs does not report them: a btrfs
// qgroup's counters in sysfs (quota.BtrfsCounters).
type DiskQuota struct {
	UsedFiles []string `json:"used_files"`
	LimitFile string   `json:"limit_file"`
}

const cgroupRoot = "/sys/fs/cgroup"

// unified tells whether the host runs cgroup v2 only.
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readU(path string) uint64 {
	n, _ := strconv.ParseUint(readTrim(path), 10, 64)
	return n
}

// keyed reads a "key value" file (memory.stat, cpu.stat, cpuacct.stat).
func keyed(path string) map[string]uint64 {
	out := map[string]uint64{}
	b, _ := os.ReadFile(path)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			out[f[0]] = n
		}
	}
	return out
}

// noLimit is what the kernel reports as no memory limit on v1 (page
// aligned LONG_MAX) or beyond the host's memory.
func limit(v, host uint64) uint64 {
	if v == 0 || v >= host {
		return 0
	}
	return v
}

// loadTracker keeps each zone's load averages between reads, sampled on
// each read: an approximation of the kernel's, from the number of the
// zone's tasks that are runnable at the moment of the read.
type loadTracker struct {
	mu    sync.Mutex
	zones map[string]*loadState
}

type loadState struct {
	at   time.Time
	load [3]float64
	// start is the zone init's start, which tells a zone that restarted.
	start uint64
}

var loads = &loadTracker{zones: map[string]*loadState{}}

// sample adds a sample of running tasks to the averages of the zone
// whose init started at start. A zone's first sample starts them from 0
// at its start (up seconds ago), as the kernel's start from 0 at boot: a
// zone read a second after it started shows a load near 0, not the one
// task that happened to run.
func (l *loadTracker) sample(zone string, start uint64, running int, up float64) [3]float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	st := l.zones[zone]
	if st == nil || st.start != start {
		st = &loadState{at: now.Add(-time.Duration(up * float64(time.Second))), start: start}
		l.zones[zone] = st
	}
	dt := now.Sub(st.at).Seconds()
	st.at = now
	for i, period := range []float64{60, 300, 900} {
		e := math.Exp(-dt / period)
		st.load[i] = st.load[i]*e + float64(running)*(1-e)
	}
	return st.load
}

// Snap reads a zone's snapshot from its cgroup and the host's /proc.
// caller is the process whose read or system call asks for it (0 for
// none): it is not counted as running, since it is running only to ask,
// and would otherwise add 1 to the load of every zone that reads it.
func Snap(zone string, cfg Config, caller int) (*Snapshot, error) {
	s := &Snapshot{}
	hostMem, _ := os.ReadFile("/proc/meminfo")
	s.HostMeminfo = string(hostMem)
	s.HostMemTotal = meminfoKB(s.HostMeminfo, "MemTotal") * 1024
	s.HostSwapTotal = meminfoKB(s.HostMeminfo, "SwapTotal") * 1024
	cpuinfo, _ := os.ReadFile("/proc/cpuinfo")
	s.HostCPUinfo = string(cpuinfo)
	hostStat, _ := os.ReadFile("/proc/stat")
	s.HostStat = string(hostStat)

	var cpus string
	var pids []int
	if unified() {
		dir := filepath.Join(cgroupRoot, cfg.Cgroup)
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("cgroup of zone %q: %w", zone, err)
		}
		if v := readTrim(filepath.Join(dir, "memory.max")); v != "max" {
			n, _ := strconv.ParseUint(v, 10, 64)
			s.MemLimit = limit(n, s.HostMemTotal)
		}
		s.MemUsage = readU(filepath.Join(dir, "memory.current"))
		ms := keyed(filepath.Join(dir, "memory.stat"))
		s.MemCache, s.MemShmem, s.MemSlabReclaimable = ms["file"], ms["shmem"], ms["slab_reclaimable"]
		if v := readTrim(filepath.Join(dir, "memory.swap.max")); v != "max" {
			s.SwapLimit, _ = strconv.ParseUint(v, 10, 64)
		}
		s.SwapUsage = readU(filepath.Join(dir, "memory.swap.current"))
		if f := strings.Fields(readTrim(filepath.Join(dir, "cpu.max"))); len(f) == 2 && f[0] != "max" {
			q, _ := strconv.ParseFloat(f[0], 64)
			p, _ := strconv.ParseFloat(f[1], 64)
			if p > 0 {
				s.CPUQuota = q / p
			}
		}
		st := keyed(filepath.Join(dir, "cpu.stat"))
		s.CPUUserTicks = st["user_usec"] * userHZ / 1e6
		s.CPUSystemTicks = st["system_usec"] * userHZ / 1e6
		cpus = readTrim(filepath.Join(dir, "cpuset.cpus.effective"))
		pids = procs(filepath.Join(dir, "cgroup.procs"))
	} else {
		mem := filepath.Join(cgroupRoot, "memory", cfg.Cgroup)
		if _, err := os.Stat(mem); err != nil {
			return nil, fmt.Errorf("cgroup of zone %q: %w", zone, err)
		}
		s.MemLimit = limit(readU(filepath.Join(mem, "memory.limit_in_bytes")), s.HostMemTotal)
		ms := keyed(filepath.Join(mem, "memory.stat"))
		s.MemUsage = ms["total_rss"] + ms["total_cache"]
		s.MemCache, s.MemShmem = ms["total_cache"], ms["total_shmem"]
		if s.MemLimit > 0 {
			// A zone without swap has one page of headroom (see
			// cgroups.MemswHeadroom): no swap to show.
			if memsw := limit(readU(filepath.Join(mem, "memory.memsw.limit_in_bytes")), 1<<62); memsw > s.MemLimit+cgroups.MemswHeadroom {
				s.SwapLimit = memsw - s.MemLimit
			}
			s.SwapUsage = ms["total_swap"]
		}
		cpu := filepath.Join(cgroupRoot, "cpu", cfg.Cgroup)
		if q, err := strconv.ParseInt(readTrim(filepath.Join(cpu, "cpu.cfs_quota_us")), 10, 64); err == nil && q > 0 {
			if p := readU(filepath.Join(cpu, "cpu.cfs_period_us")); p > 0 {
				s.CPUQuota = float64(q) / float64(p)
			}
		}
		st := keyed(filepath.Join(cgroupRoot, "cpuacct", cfg.Cgroup, "cpuacct.stat"))
		s.CPUUserTicks, s.CPUSystemTicks = st["user"], st["system"]
		cpus = readTrim(filepath.Join(cgroupRoot, "cpuset", cfg.Cgroup, "cpuset.effective_cpus"))
		if cpus == "" {
			cpus = readTrim(filepath.Join(cgroupRoot, "cpuset", cfg.Cgroup, "cpuset.cpus"))
		}
		pids = procs(filepath.Join(cgroupRoot, "pids", cfg.Cgroup, "tasks"))
	}
	set, err := cgroups.ParseCPUList(cpus)
	if err != nil || len(set) == 0 {
		set, _ = cgroups.OnlineCPUs()
	}
	for c := 0; len(s.CPUs) < len(set); c++ {
		if set[c] {
			s.CPUs = append(s.CPUs, c)
		}
	}
	s.Uptime = uptimeOf(cfg)
	s.lastPIDOf = func() int { return zoneLastPID(cfg.InitPID, pids) }
	for _, pid := range pids {
		s.Tasks++
		if pid == caller {
			continue
		}
		if state, _ := procState(pid); state == 'R' {
			s.Running++
		}
	}
	s.Load = loads.sample(zone, cfg.InitStart, s.Running, s.Uptime)
	return s, nil
}

func meminfoKB(meminfo, key string) uint64 {
	for _, line := range strings.Split(meminfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func procs(path string) []int {
	var out []int
	for _, f := range strings.Fields(readTrim(path)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// procStat returns the fields of /proc/PID/stat after the command name,
// starting with the state (field 3).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

func procState(pid int) (byte, error) {
	f, err := procStat(pid)
	if err != nil || len(f) == 0 {
		return 0, err
	}
	return f[0][0], nil
}

// nsPIDs is a task's PID in each PID namespace it is in, the host's (as
// this process's /proc sees it) first: /proc/PID/status's NSpid.
func nsPIDs(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			var out []int
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil
				}
				out = append(out, n)
			}
			return out
		}
	}
	return nil
}

// zoneLastPID is the highest PID among the zone's tasks as the zone
// numbers them: the PID at the level of its init's PID namespace (a task
// of a namespace nested in the zone counts by its number in the zone's).
// The host's PIDs of the zone's tasks would tell the zone how many
// processes the host and every other zone forked meanwhile. Without a
// known init (0), there is nothing to show.
func zoneLastPID(initPID int, tasks []int) int {
	if initPID <= 0 {
		return 0
	}
	level := len(nsPIDs(initPID))
	if level == 0 {
		return 0
	}
	last := 0
	for _, pid := range tasks {
		if ns := nsPIDs(pid); len(ns) >= level && ns[level-1] > last {
			last = ns[level-1]
		}
	}
	return last
}

// StartTicks is a process's start time in clock ticks after boot.
func StartTicks(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 20 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// uptimeOf is the seconds since the zone's init started.
func uptimeOf(cfg Config) float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	now := float64(ts.Sec) + float64(ts.Nsec)/1e9
	up := now - float64(cfg.InitStart)/userHZ
	if up < 0 {
		return 0
	}
	return up
}

// readConfig reads STATE/zones/NAME.json.
func readConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	err = json.Unmarshal(b, &c)
	return c, err
}
