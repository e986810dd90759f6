//go:build linux

package procview

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Two numbers a zone's programs read do not come from files, so no bind
// mount can correct them:
//
//   - sysinfo(2) gives total and free memory, swap, uptime, load and the
//     process count (busybox free and uptime, glibc's
//     sysconf(_SC_PHYS_PAGES), which sizes many programs' caches);
//   - sched_getaffinity(2) gives the CPUs a thread may run on (nproc,
//     make -j, nginx and JVM worker counts, the Go runtime).
//
// The zone's seccomp filter hands these syscalls to the view server (a
// seccomp user notification), which answers them from the zone's limits
// as it answers the files: memory and uptime from the cgroup, and at most
// as many CPUs as the zone's CPU limit allows. Incus intercepts sysinfo
// the same way; OpenVZ did it in its kernel.

// A zone whose disk quota its root filesystem's statfs does not report (a
// btrfs qgroup) hands the view server its statfs(2) calls too: the
// server answers those about the zone's root filesystem with the quota's
// size and use, so df shows the plan, and leaves every other to the
// kernel.

// SeccompSocket is where processes of zones hand their seccomp listener
// to the view server (the policy's listenerPath).
func SeccompSocket(state string) string { return filepath.Join(state, "seccomp.sock") }

// Seccomp returns a copy of the zone's policy base that also hands the
// zone's sysinfo(2) calls, its sched_getaffinity(2) calls about the
// calling thread (pid 0) and, with statfs, its statfs(2) calls to the
// view server of state. A nil base (a zone without a policy) stays nil.
func Seccomp(base *specs.LinuxSeccomp, state, zone string, statfs bool) *specs.LinuxSeccomp {
	if base == nil {
		return nil
	}
	sc := *base
	self := []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}
	ours := []specs.LinuxSyscall{
		{Names: []string{"sysinfo"}, Action: specs.ActNotify},
		{Names: []string{"sched_getaffinity"}, Action: specs.ActNotify, Args: self},
	}
	if statfs {
		ours = append(ours, specs.LinuxSyscall{Names: []string{"statfs"}, Action: specs.ActNotify})
	}
	sc.Syscalls = append(ours, base.Syscalls...)
	sc.ListenerPath = SeccompSocket(state)
	sc.ListenerMetadata = zone
	return &sc
}
