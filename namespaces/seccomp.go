//go:build linux

package namespaces

import (
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// EPERM and ENOSYS as the seccomp rules return them; kept here (not from
// x/sys/unix) so the policy stays buildable and readable on any OS.
const (
	errnoEPERM  = 1
	errnoENOSYS = 38
)

// seccompDenied are the syscalls a zone may not make at all, each because
// it reaches the host kernel itself and no namespace isolates it. They
// answer EPERM, the errno a program also gets when it lacks the
// capability, so guests that probe them (modprobe, kexec-tools, systemd's
// feature checks) take their "not allowed here" path.
var seccompDenied = map[string]string{
	// Replacing the running kernel is the host's business.
	"kexec_load":      "loads a new kernel for the host",
	"kexec_file_load": "loads a new kernel for the host",
	// open_by_handle_at opens any inode of a mounted filesystem by a
	// guessed handle, past the zone's root ("shocker"). CAP_DAC_READ_SEARCH
	// is dropped as well; this is the second lock.
	"open_by_handle_at": "opens host files by handle, past the zone's root",
	// Kernel modules run code in the host kernel. CAP_SYS_MODULE is
	// dropped as well.
	"init_module":   "loads code into the host kernel",
	"finit_module":  "loads code into the host kernel",
	"delete_module": "unloads the host's drivers",
	// Without a user namespace the zone's root holds CAP_SYS_ADMIN in the
	// host's user namespace, and CAP_SYS_ADMIN alone grants BPF and perf
	// (bpf_capable, perfmon_capable): tracing programs and perf events
	// read the whole kernel's memory and every process on the host.
	"bpf":             "BPF programs see and change the whole kernel",
	"perf_event_open": "perf events observe the whole host",
	// Swap areas are host-wide.
	"swapon":  "swap is host-wide",
	"swapoff": "swap is host-wide",
}

// seccompNoSys answer ENOSYS: the kernel keyring is not namespaced (keys
// of one zone could be found by another with the same uid), and programs
// that use it (systemd, ssh, Kerberos, ecryptfs) fall back to something
// else when the kernel "lacks" it, but fail hard on EPERM.
//
// io_uring answers ENOSYS too: its operations run in kernel workers that
// the filter never sees (an opened file, a socket, a splice are not the
// syscalls this filter judges), and its ring code has been the kernel's
// most exploited surface since 2021, reachable by any user. Programs that
// use it (libuv, QEMU, databases) check for it and fall back to threads
// or plain syscalls when the kernel "lacks" it.
var seccompNoSys = []string{"keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register"}

// seccompDeniedIoctls are ioctl requests a zone may not make, whatever it
// opens them on. On a btrfs pool a zone's root is a snapshot whose qgroup
// carries its disk quota; a subvolume or snapshot made inside it gets a
// qgroup of its own, outside that quota, so making one is refused (and
// any user may make one on btrfs, so capabilities do not stop it).
var seccompDeniedIoctls = map[string]uint64{
	"BTRFS_IOC_SNAP_CREATE":      0x50009401,
	"BTRFS_IOC_SUBVOL_CREATE":    0x5000940e,
	"BTRFS_IOC_SNAP_CREATE_V2":   0x50009417,
	"BTRFS_IOC_SUBVOL_CREATE_V2": 0x50009418,
}

// seccompArch names the running architecture as OCI/libseccomp do. A
// filter lists only the native ABI: a syscall made through any other ABI
// the kernel offers (i386's int 0x80 and the x32 ABI on x86_64, AArch32
// on arm64) kills the process. Those ABIs have their own syscall numbers,
// so a deny-list written for the native numbers would not apply to them;
// killing is chosen over an errno because a program whose every syscall,
// exit included, fails does not stop cleanly, while SIGSYS says plainly
// what happened. Zones run 64-bit userlands.
var seccompArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64,
	"arm64": specs.ArchAARCH64,
}

// DefaultSeccomp returns the seccomp policy every zone gets: allow by
// default, deny the syscalls in seccompDenied with EPERM and the keyring
// with ENOSYS, and kill foreign ABIs. It is installed without
// no_new_privs, so setuid programs (sudo, su, ping) keep working inside.
// It lives in the zone's spec (Linux.Seccomp), from which the filter is
// built, so tools reading the spec see exactly what is enforced.
func DefaultSeccomp() *specs.LinuxSeccomp {
	eperm, enosys := uint(errnoEPERM), uint(errnoENOSYS)
	var denied []string
	for name := range seccompDenied {
		denied = append(denied, name)
	}
	sort.Strings(denied)
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: denied, Action: specs.ActErrno, ErrnoRet: &eperm},
			{Names: append([]string(nil), seccompNoSys...), Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
	var reqs []string
	for name := range seccompDeniedIoctls {
		reqs = append(reqs, name)
	}
	sort.Strings(reqs)
	for _, name := range reqs {
		sc.Syscalls = append(sc.Syscalls, specs.LinuxSyscall{
			Names: []string{"ioctl"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: seccompDeniedIoctls[name], Op: specs.OpEqualTo}},
		})
	}
	if a, ok := seccompArch[runtime.GOARCH]; ok {
		sc.Architectures = []specs.Arch{a}
	}
	return sc
}
