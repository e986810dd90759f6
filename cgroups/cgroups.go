//go:build linux

// Package cgroups gives each zone one control group and keeps its limits,
// counters and processes there, on both kernels zoned meets: the legacy or
// hybrid cgroup v1 layout (one hierarchy per controller, plus name=systemd
// because zones boot systemd) and the unified cgroup v2 hierarchy of
// current distributions. It goes through containerd/cgroups/v3 for creating
// groups, moving and freezing processes, and writes the limit files itself
// where it needs exact semantics: Update sets a group to exactly the given
// limits, so removing a limit really removes it, and raising and lowering
// memory both work.
//
// Every group lives at an absolute path the caller gives ("/zoned/web1"),
// never relative to the daemon's own cgroup, and the package touches
// nothing outside the groups it creates.
package cgroups

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// Period is the CFS period ToSpec uses: 100 ms, the kernel default, so
// CPULimitPercent maps to quota without rounding.
const Period = 100000

// MinMemoryBytes is the smallest memory limit Validate accepts; below it a
// zone's systemd cannot even start.
const MinMemoryBytes = 4 << 20

// UnifiedCPUWeight is the key in LinuxResources.Unified that carries the
// operator's exact cpu.weight, so v2 needs no lossy shares round trip.
const UnifiedCPUWeight = "cpu.weight"

// Stats are a group's counters. A limit of 0 means "no limit".
type Stats struct {
	MemoryUsage, MemoryLimit, MemoryFailcnt, OOMKills uint64
	SwapUsage                                         uint64
	// PidsFailcnt counts forks refused by the pids limit.
	Pids, PidsLimit, PidsFailcnt  uint64
	CPUUsageNanos, ThrottledNanos uint64
	// ThrottledPeriods counts CFS periods in which the CPU limit stopped
	// the group.
	ThrottledPeriods uint64
	// Block IO the group did, summed over devices (what reached the block
	// layer: page cache hits and buffered writes not yet flushed are not
	// counted).
	IOReadBytes, IOWriteBytes, IOReadOps, IOWriteOps uint64
}

// Group is one zone's cgroup.
type Group interface {
	// Path is the group's absolute path inside each hierarchy.
	Path() string
	// AddProc moves a process into the group (every hierarchy on v1).
	AddProc(pid int) error
	// Update sets the group's limits to exactly res: a limit that res
	// leaves unset (nil, zero) is removed, not kept.
	Update(res *specs.LinuxResources) error
	Stats() (*Stats, error)
	// Procs lists the processes in the group and its descendants.
	Procs() ([]int, error)
	Freeze() error
	Thaw() error
	// Kill sends SIGKILL to every process in the group and waits (10 s at
	// most) until the group is empty.
	Kill() error
	// Delete removes the group, and any children a zone made in it, from
	// every hierarchy. The group must be empty: Kill first.
	Delete() error
}

// ToSpec converts the operator's limits to OCI resources. Zero fields give
// nil (no limit). With a memory limit and no swap the zone gets no swap:
// Memory.Swap (memory+swap in OCI) equals the limit.
func ToSpec(r api.Resources) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if r.MemoryBytes > 0 {
		limit, swap := r.MemoryBytes, r.MemoryBytes+r.SwapBytes
		res.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}
	cpu := &specs.LinuxCPU{}
	used := false
	if r.CPULimitPercent > 0 {
		quota, period := r.CPULimitPercent*Period/100, uint64(Period)
		cpu.Quota, cpu.Period = &quota, &period
		used = true
	}
	if r.CPUs != "" {
		cpu.Cpus = r.CPUs
		used = true
	}
	if r.CPUWeight > 0 {
		shares := WeightToShares(r.CPUWeight)
		cpu.Shares = &shares
		res.Unified = map[string]string{UnifiedCPUWeight: strconv.FormatUint(r.CPUWeight, 10)}
		used = true
	}
	if used {
		res.CPU = cpu
	}
	if r.PidsMax > 0 {
		limit := r.PidsMax
		res.Pids = &specs.LinuxPids{Limit: &limit}
	}
	res.Devices = DefaultDevices()
	return res
}

// WeightToShares converts a v2 cpu.weight (default 100) to v1 cpu.shares
// (default 1024), proportionally, never below the kernel's minimum of 2.
func WeightToShares(weight uint64) uint64 {
	return max(weight*1024/100, 2)
}

// sharesToWeight is the inverse for specs that carry only shares.
func sharesToWeight(shares uint64) uint64 {
	return min(max(shares*100/1024, 1), 10000)
}

// Validate rejects limits the kernel would refuse or that make no sense,
// naming the field and value. Zero means unlimited and is always valid.
func Validate(r api.Resources) error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("resources.%s = %v: %s: %w", field, v, why, errdefs.ErrInvalid)
	}
	switch {
	case r.MemoryBytes < 0:
		return bad("memory_bytes", r.MemoryBytes, "must not be negative")
	case r.MemoryBytes > 0 && r.MemoryBytes < MinMemoryBytes:
		return bad("memory_bytes", r.MemoryBytes, "below the 4 MiB minimum")
	case r.SwapBytes < 0:
		return bad("swap_bytes", r.SwapBytes, "must not be negative")
	case r.SwapBytes > 0 && r.MemoryBytes == 0:
		return bad("swap_bytes", r.SwapBytes, "swap needs a memory limit (memory_bytes)")
	case r.CPULimitPercent < 0:
		return bad("cpu_limit_percent", r.CPULimitPercent, "must not be negative")
	case r.CPUWeight != 0 && (r.CPUWeight < 1 || r.CPUWeight > 10000):
		return bad("cpu_weight", r.CPUWeight, "must be 1..10000")
	case r.PidsMax < 0:
		return bad("pids_max", r.PidsMax, "must not be negative")
	}
	if err := validateIO(r, bad); err != nil {
		return err
	}
	if r.MemoryBytes > 0 {
		total, err := HostMemoryBytes()
		if err != nil {
			return err
		}
		if r.MemoryBytes > total {
			return bad("memory_bytes", r.MemoryBytes, fmt.Sprintf("more than this host's %d bytes of RAM", total))
		}
	}
	if r.CPULimitPercent > 0 {
		n, err := NumCPU()
		if err != nil {
			return err
		}
		if r.CPULimitPercent > int64(100*n) {
			return bad("cpu_limit_percent", r.CPULimitPercent, fmt.Sprintf("more than this host's %d CPUs (%d%%)", n, 100*n))
		}
	}
	if r.CPUs != "" {
		want, err := ParseCPUList(r.CPUs)
		if err != nil {
			return bad("cpus", strconv.Quote(r.CPUs), err.Error())
		}
		online, err := OnlineCPUs()
		if err != nil {
			return err
		}
		for cpu := range want {
			if !online[cpu] {
				return bad("cpus", strconv.Quote(r.CPUs), fmt.Sprintf("CPU %d is not online on this host", cpu))
			}
		}
	}
	return nil
}

// ParseCPUList parses the kernel's cpu list format ("0-3,8,10-11").
func ParseCPUList(s string) (map[int]bool, error) {
	out := map[int]bool{}
	s = strings.TrimSpace(s)
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad CPU number %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, fmt.Errorf("bad CPU number %q", hi)
			}
			if b < a {
				return nil, fmt.Errorf("range %q runs backwards", part)
			}
		}
		for c := a; c <= b; c++ {
			out[int(c)] = true
		}
	}
	return out, nil
}

// onlinePath is where the kernel lists the CPUs that are up; a variable for
// tests.
var onlinePath = "/sys/devices/system/cpu/online"

// OnlineCPUs returns the host's online CPUs.
func OnlineCPUs() (map[int]bool, error) {
	b, err := os.ReadFile(onlinePath)
	if err != nil {
		return nil, fmt.Errorf("read online CPUs: %w", err)
	}
	cpus, err := ParseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", onlinePath, err)
	}
	return cpus, nil
}

// NumCPU is the number of online host CPUs (not the daemon's affinity).
func NumCPU() (int, error) {
	cpus, err := OnlineCPUs()
	if err != nil {
		return 0, err
	}
	return len(cpus), nil
}
