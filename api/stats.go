package api

import "time"

// EventZoneOOM is the event of an OOM kill inside a zone: its memory limit
// was hit and the kernel killed a process of the zone. Message says how
// many processes and the limit.
const EventZoneOOM = "zone-oom"

// EventZoneQuota is the event of a zone running into its disk quota: a
// write (or a file's creation) was refused, or the disk came within the
// quota's margin (see ZoneFails.Quota). Message says how often since the
// zone started.
const EventZoneQuota = "zone-quota"

// ZoneStats is what a running zone uses and how often it hit its limits,
// as GET /v1/zones/{name}/stats and GET /v1/stats answer.
type ZoneStats struct {
	Name  string    `json:"name"`
	State ZoneState `json:"state"`
	// Time is when the counters were read.
	Time time.Time `json:"time"`
	// CPUPercent is CPU use in percent of one CPU (150 = one and a half
	// CPUs busy), averaged over the time since the previous stats read
	// of this zone by any caller, or since the zone started on the first
	// read. Reads less than a second apart repeat the previous figure, so
	// two callers do not make each other's windows meaningless.
	CPUPercent float64 `json:"cpu_percent"`
	// CPUNanos is CPU time used since the zone started.
	CPUNanos uint64 `json:"cpu_nanos"`
	// Limits of 0 mean "no limit".
	MemoryBytes      uint64 `json:"memory_bytes"`
	MemoryLimitBytes uint64 `json:"memory_limit_bytes,omitempty"`
	SwapBytes        uint64 `json:"swap_bytes"`
	Processes        uint64 `json:"processes"`
	ProcessesLimit   uint64 `json:"processes_limit,omitempty"`
	// Network traffic of the zone's own network namespace, loopback
	// left out, since the zone started.
	NetRxBytes   uint64 `json:"net_rx_bytes"`
	NetTxBytes   uint64 `json:"net_tx_bytes"`
	NetRxPackets uint64 `json:"net_rx_packets"`
	NetTxPackets uint64 `json:"net_tx_packets"`
	// Block IO that reached the disks, since the zone started.
	IOReadBytes  uint64 `json:"io_read_bytes"`
	IOWriteBytes uint64 `json:"io_write_bytes"`
	IOReadOps    uint64 `json:"io_read_ops"`
	IOWriteOps   uint64 `json:"io_write_ops"`
	// Disk use of the zone's own layer against its quota, filled by the
	// quota backend of its pool (omitted where it has none).
	DiskBytes       uint64 `json:"disk_bytes,omitempty"`
	DiskLimitBytes  uint64 `json:"disk_limit_bytes,omitempty"`
	DiskInodes      uint64 `json:"disk_inodes,omitempty"`
	DiskLimitInodes uint64 `json:"disk_limit_inodes,omitempty"`
	// Fails counts how often each limit refused the zone.
	Fails ZoneFails `json:"fails"`
}

// ZoneFails are a zone's fail counters, as OpenVZ's user_beancounters
// failcnt: an operator sees at a glance which limit a zone keeps hitting.
// They count since the zone started (its cgroup is made anew at start).
type ZoneFails struct {
	// Memory counts the times usage hit the memory (or memory+swap)
	// limit: v1's failcnt, v2's memory.events "max".
	Memory uint64 `json:"memory"`
	// OOMKills counts processes the OOM killer killed in the zone.
	OOMKills uint64 `json:"oom_kills"`
	// Forks counts forks the process limit refused.
	Forks uint64 `json:"forks"`
	// CPUThrottledPeriods and CPUThrottledNanos say how often and how long
	// the CPU limit held the zone back.
	CPUThrottledPeriods uint64 `json:"cpu_throttled_periods"`
	CPUThrottledNanos   uint64 `json:"cpu_throttled_nanos"`
	// Quota counts the times the zone ran into its disk quota (bytes or
	// inodes): use went from below the quota to at it, as a refused
	// write leaves it. Project quotas count the kernel's warnings of
	// refused writes; images and btrfs qgroups, which have none, are
	// sampled every 2 seconds (and at each stats read), and "at" means
	// less than 2 MiB (1/32 of a smaller quota) or no inode free. Writes
	// refused while the zone stays at the quota count once; a hit that
	// begins and ends between two samples is missed. Counted since the
	// zone started, or since the daemon adopted it after a restart;
	// omitted for zones without a quota.
	Quota uint64 `json:"quota,omitempty"`
}
