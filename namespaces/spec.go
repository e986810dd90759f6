//go:build linux

package namespaces

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capNumbers maps capability names to their kernel numbers
// (include/uapi/linux/capability.h). Capabilities newer than the running
// kernel are skipped when the bounding set is applied.
var capNumbers = map[string]int{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
	"CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
	"CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
	"CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
	"CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
	"CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
	"CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
	"CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// droppedCaps are removed from a zone's bounding set by default, each
// because it reaches state that no namespace isolates. Everything else is
// kept: a zone is a whole system whose root administers its own mounts,
// network, users and processes (CAP_SYS_ADMIN, CAP_NET_ADMIN, ...).
var droppedCaps = map[string]string{
	// Loading a module runs code in the host kernel.
	"CAP_SYS_MODULE": "kernel modules are host-wide",
	// iopl/ioperm and raw block/memory access bypass every isolation.
	"CAP_SYS_RAWIO": "raw I/O ports and memory are the host's",
	// The system clock is not namespaced (time namespaces only offset
	// monotonic/boottime clocks): settimeofday would move the host clock.
	"CAP_SYS_TIME": "the realtime clock is host-wide",
	// LSM policy (AppArmor, SELinux, Smack) is host-wide.
	"CAP_MAC_ADMIN":    "LSM policy is host-wide",
	"CAP_MAC_OVERRIDE": "LSM policy is host-wide",
	// open_by_handle_at opens any file of a mounted filesystem by handle,
	// escaping the mount namespace and the pivot_root ("shocker").
	"CAP_DAC_READ_SEARCH": "open_by_handle_at escapes the zone's root",
	// The kernel log ring buffer is not namespaced: reading leaks host
	// messages, clearing destroys them.
	"CAP_SYSLOG": "the kernel log is host-wide",
	// Audit rules and the audit multicast stream are host-wide.
	"CAP_AUDIT_CONTROL": "audit configuration is host-wide",
	"CAP_AUDIT_READ":    "the audit log is host-wide",
	// Timers that wake the machine and wakelocks that block suspend act
	// on the host's power state.
	"CAP_WAKE_ALARM":    "wake-up timers act on the host",
	"CAP_BLOCK_SUSPEND": "blocks the host's suspend",
	// perf events and BPF programs observe or change the whole kernel.
	"CAP_PERFMON": "perf events see the whole host",
	"CAP_BPF":     "BPF programs run in the host kernel",
}

// Kept on purpose (the questionable ones):
//   - CAP_SYS_BOOT: reboot(2) inside a PID namespace only ends that
//     namespace (its init dies with SIGHUP for restart, SIGINT for power
//     off), which is how zoned learns that a zone rebooted or powered off.
//   - CAP_SYS_PACCT: acct(2) is per PID namespace.
//   - CAP_MKNOD: device access is governed by the zone's devices cgroup,
//     which must deny everything but the standard nodes.
//   - CAP_CHECKPOINT_RESTORE: ns_last_pid and set_tid act on the zone's own
//     PID namespace (CRIU inside a zone).

// DefaultCapabilities returns the bounding set a zone keeps by default.
func DefaultCapabilities() []string {
	var caps []string
	for name := range capNumbers {
		if _, drop := droppedCaps[name]; !drop {
			caps = append(caps, name)
		}
	}
	sort.Slice(caps, func(i, j int) bool { return capNumbers[caps[i]] < capNumbers[caps[j]] })
	return caps
}

// capSet turns capability names ("CAP_NET_ADMIN" or "net_admin") into a
// set of numbers.
func capSet(names []string) (map[int]bool, error) {
	set := make(map[int]bool, len(names))
	for _, n := range names {
		up := strings.ToUpper(n)
		if !strings.HasPrefix(up, "CAP_") {
			up = "CAP_" + up
		}
		num, ok := capNumbers[up]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		set[num] = true
	}
	return set, nil
}

// DefaultMaskedPaths hide host information or host-wide knobs under /proc
// and /sys: files get /dev/null bound over them, directories an empty
// read-only tmpfs.
var DefaultMaskedPaths = []string{
	"/proc/acpi",
	"/proc/asound",
	"/proc/kcore",
	"/proc/keys",
	// Physical page flags, counts and owners: with CAP_SYS_ADMIN they
	// map the host's memory layout (a Rowhammer aid) and host-wide usage.
	"/proc/kpagecgroup",
	"/proc/kpagecount",
	"/proc/kpageflags",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/proc/sysrq-trigger",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
}

// DefaultReadonlyPaths are host-wide kernel knobs the zone may read.
var DefaultReadonlyPaths = []string{
	"/proc/bus",
	"/proc/fs",
	"/proc/irq",
	"/proc/sys",
}

// DefaultEnv is the environment of a zone's init.
var DefaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=linux",
	// systemd and many scripts look at $container to detect that they run
	// in a container.
	"container=zoned",
}

// DefaultSpec returns the spec a new zone starts from: the namespaces zoned
// creates, the default bounding set, masked and read-only paths and the
// init's environment. The daemon stores it (with Root.Path filled in) and
// may adjust it.
func DefaultSpec(zone, hostname string, args []string) *specs.Spec {
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: hostname,
		Process: &specs.Process{
			Args: append([]string(nil), args...),
			Env:  append([]string(nil), DefaultEnv...),
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
		},
		Root: &specs.Root{},
		Annotations: map[string]string{
			"org.zoned.zone": zone,
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths:   append([]string(nil), DefaultMaskedPaths...),
			ReadonlyPaths: append([]string(nil), DefaultReadonlyPaths...),
			Seccomp:       DefaultSeccomp(),
		},
	}
}
