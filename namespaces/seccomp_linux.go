package namespaces

// The seccomp filter is assembled as classic BPF with golang.org/x/net/bpf
// rather than through libseccomp: zoned's policy is a short fixed list of
// syscall numbers with no argument checks, which a linear program of
// "load nr, compare, return" expresses exactly; x/net/bpf checks the
// encoding and gives a VM to test the program without a kernel; and the
// daemon stays a static, cgo-free binary (libseccomp-golang needs cgo and
// libseccomp-dev on every build host). The program is built from the
// zone's spec (Linux.Seccomp) each time, so the spec is the one source of
// truth.
//
// SCMP_ACT_NOTIFY rules hand the syscall to a supervisor in user space
// (seccomp_unotify(2)): the filter is loaded with a listener descriptor,
// which the zone's process passes to Spawn or Exec, which send it on to
// the spec's listenerPath as OCI runtimes do (seccompnotify_linux.go).

import (
	"fmt"
	"path/filepath"
	"runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (include/uapi/linux/seccomp.h).
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16 // six 64-bit arguments, little-endian on our arches
)

// x32SyscallBit marks syscalls made through the x32 ABI on x86_64: they
// carry the native AUDIT_ARCH_X86_64 but nr | 0x40000000.
const x32SyscallBit = 0x40000000

// auditArch maps the OCI architecture names zoned can filter to the
// kernel's AUDIT_ARCH values (seccomp_data.arch).
var auditArch = map[specs.Arch]uint32{
	specs.ArchX86_64:  unix.AUDIT_ARCH_X86_64,
	specs.ArchAARCH64: unix.AUDIT_ARCH_AARCH64,
}

// syscallNumbers are the syscalls a zone's spec may name, with their
// numbers on the architecture zoned was built for. Policies name
// syscalls, not numbers; a name not here is refused rather than ignored,
// so a typo cannot silently weaken a filter.
var syscallNumbers = map[string]uint32{
	"ioctl":             unix.SYS_IOCTL,
	"kexec_load":        unix.SYS_KEXEC_LOAD,
	"kexec_file_load":   unix.SYS_KEXEC_FILE_LOAD,
	"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
	"name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
	"init_module":       unix.SYS_INIT_MODULE,
	"finit_module":      unix.SYS_FINIT_MODULE,
	"delete_module":     unix.SYS_DELETE_MODULE,
	"bpf":               unix.SYS_BPF,
	"perf_event_open":   unix.SYS_PERF_EVENT_OPEN,
	"swapon":            unix.SYS_SWAPON,
	"swapoff":           unix.SYS_SWAPOFF,
	"keyctl":            unix.SYS_KEYCTL,
	"add_key":           unix.SYS_ADD_KEY,
	"request_key":       unix.SYS_REQUEST_KEY,
	"userfaultfd":       unix.SYS_USERFAULTFD,
	"ptrace":            unix.SYS_PTRACE,
	"process_vm_readv":  unix.SYS_PROCESS_VM_READV,
	"process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
	"mount":             unix.SYS_MOUNT,
	"umount2":           unix.SYS_UMOUNT2,
	"pivot_root":        unix.SYS_PIVOT_ROOT,
	"reboot":            unix.SYS_REBOOT,
	"acct":              unix.SYS_ACCT,
	"quotactl":          unix.SYS_QUOTACTL,
	"syslog":            unix.SYS_SYSLOG,
	"settimeofday":      unix.SYS_SETTIMEOFDAY,
	"clock_settime":     unix.SYS_CLOCK_SETTIME,
	"clock_adjtime":     unix.SYS_CLOCK_ADJTIME,
	"adjtimex":          unix.SYS_ADJTIMEX,
	"setns":             unix.SYS_SETNS,
	"unshare":           unix.SYS_UNSHARE,
	"personality":       unix.SYS_PERSONALITY,
	"fanotify_init":     unix.SYS_FANOTIFY_INIT,
	"kcmp":              unix.SYS_KCMP,
	"io_uring_setup":    unix.SYS_IO_URING_SETUP,
	"io_uring_enter":    unix.SYS_IO_URING_ENTER,
	"io_uring_register": unix.SYS_IO_URING_REGISTER,
	"sysinfo":           unix.SYS_SYSINFO,
	"sched_getaffinity": unix.SYS_SCHED_GETAFFINITY,
	"statfs":            unix.SYS_STATFS,
}

// seccompReturn is the filter's return value for an OCI action.
func seccompReturn(action specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	switch action {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		e := uint(errnoEPERM)
		if errnoRet != nil {
			e = *errnoRet
		}
		if e == 0 || e > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errno %d out of range 1..%d", e, unix.SECCOMP_RET_DATA)
		}
		return unix.SECCOMP_RET_ERRNO | uint32(e), nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return unix.SECCOMP_RET_USER_NOTIF, nil
	}
	return 0, fmt.Errorf("action %q is not supported", action)
}

// seccompFilter assembles sc into a classic BPF program for the native
// architecture:
//
//	ld  arch;  jeq NATIVE ? next : kill-process      (foreign ABIs)
//	ld  nr;    jge 0x40000000 ? kill-process : next  (x32, on x86_64)
//	jeq nr_1 ? ret action_1 : next  ...              (one pair per syscall)
//	ret default action
//
// A syscall named twice takes the first rule's action, as the spec reads.
func seccompFilter(sc *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	nativeName, ok := seccompArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("seccomp: no filter for architecture %s", runtime.GOARCH)
	}
	native := auditArch[nativeName]
	for _, a := range sc.Architectures {
		if a != nativeName {
			// Other ABIs have other syscall numbers; a rule list
			// written in native numbers cannot cover them.
			return nil, fmt.Errorf("seccomp: architecture %s: only the native %s can be filtered", a, nativeName)
		}
	}
	if len(sc.Flags) > 0 {
		return nil, fmt.Errorf("seccomp: flags %v are not supported", sc.Flags)
	}
	if notifies(sc) && !filepath.IsAbs(sc.ListenerPath) {
		// Nothing would answer the notifications: every such syscall
		// would fail with ENOSYS.
		return nil, fmt.Errorf("seccomp: SCMP_ACT_NOTIFY needs an absolute listenerPath, not %q", sc.ListenerPath)
	}
	def, err := seccompReturn(sc.DefaultAction, sc.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: default action: %w", err)
	}
	const kill = unix.SECCOMP_RET_KILL_PROCESS
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: native, SkipTrue: 1},
		bpf.RetConstant{Val: kill},
		bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
	}
	if native == unix.AUDIT_ARCH_X86_64 {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
			bpf.RetConstant{Val: kill},
		)
	}
	seen := map[string]bool{}
	for i, rule := range sc.Syscalls {
		ret, err := seccompReturn(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("seccomp: rule %d (%v): %w", i, rule.Names, err)
		}
		for _, a := range rule.Args {
			if a.Op != specs.OpEqualTo || a.Index > 5 {
				return nil, fmt.Errorf("seccomp: rule %d (%v): only equality on arguments 0..5 is supported", i, rule.Names)
			}
		}
		for _, name := range rule.Names {
			nr, ok := syscallNumbers[name]
			if !ok {
				return nil, fmt.Errorf("seccomp: rule %d: unknown syscall %q", i, name)
			}
			if seen[name] {
				continue
			}
			if len(rule.Args) == 0 {
				// Only an unconditional rule settles the syscall: a
				// later one cannot apply after it.
				seen[name] = true
				prog = append(prog,
					bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 1},
					bpf.RetConstant{Val: ret},
				)
				continue
			}
			prog = append(prog, argRule(nr, rule.Args, ret)...)
		}
	}
	prog = append(prog, bpf.RetConstant{Val: def})
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: filter of %d instructions exceeds the kernel's %d", len(prog), unix.BPF_MAXINSNS)
	}
	return prog, nil
}

// argRule is the filter for a syscall rule with argument conditions, all
// of which must hold. The argument loads overwrite the accumulator, so a
// rule that does not match reloads the syscall number for the next:
//
//	jeq nr ? next : past the block       (A is still nr there)
//	ld lo(arg); jeq lo ? next : reload   (for each argument:
//	ld hi(arg); jeq hi ? next : reload    both 32-bit halves)
//	ret action
//	reload: ld nr
func argRule(nr uint32, args []specs.LinuxSeccompArg, ret uint32) []bpf.Instruction {
	k := uint8(len(args))
	prog := []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: 4*k + 2}}
	for j, a := range args {
		off := uint32(seccompDataArgs + 8*a.Index)
		left := 4 * (k - uint8(j))
		prog = append(prog,
			bpf.LoadAbsolute{Off: off, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(a.Value), SkipFalse: left - 1},
			bpf.LoadAbsolute{Off: off + 4, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(a.Value >> 32), SkipFalse: left - 3},
		)
	}
	return append(prog, bpf.RetConstant{Val: ret}, bpf.LoadAbsolute{Off: seccompDataNr, Size: 4})
}

// CheckSeccomp reports whether sc can be turned into a filter, so a bad
// policy is refused when it is stored rather than when a zone starts.
func CheckSeccomp(sc *specs.LinuxSeccomp) error {
	if sc == nil {
		return nil
	}
	_, err := seccompFilter(sc)
	return err
}

// notifies reports whether sc hands any syscall to a supervisor.
func notifies(sc *specs.LinuxSeccomp) bool {
	if sc == nil {
		return false
	}
	if sc.DefaultAction == specs.ActNotify {
		return true
	}
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActNotify {
			return true
		}
	}
	return false
}

// installSeccomp loads the filter built from sc on the calling thread; nil
// means no filter. It must run after pivot_root and the bounding-set drop
// and right before execve: the filter also applies to zoned's own last
// steps, and without no_new_privs the kernel accepts it only from a
// thread with CAP_SYS_ADMIN, which the zone's init still has until
// execve. The filter survives execve and every fork inside the zone, and
// no process can remove it.
//
// When sc notifies, the filter is loaded with a listener and its
// descriptor (close-on-exec) is returned for the caller to pass on;
// otherwise the descriptor is -1.
func installSeccomp(sc *specs.LinuxSeccomp) (int, error) {
	if sc == nil {
		return -1, nil
	}
	filter, listener, err := seccompProgram(sc)
	if err != nil {
		return -1, err
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var flags uintptr
	if listener {
		flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	// seccomp(2) rather than prctl: only it can ask for a listener.
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	switch {
	case errno == unix.EACCES:
		return -1, fmt.Errorf("seccomp: install filter: %w (without no_new_privs this needs CAP_SYS_ADMIN)", errno)
	case errno == unix.EBUSY && flags != 0:
		// The kernel allows one listener in a process's filter chain.
		return -1, fmt.Errorf("seccomp: install filter: %w (a filter with a listener is already installed)", errno)
	case errno != 0:
		return -1, fmt.Errorf("seccomp: install filter: %w", errno)
	}
	if flags == 0 {
		return -1, nil
	}
	return int(fd), nil
}

// seccompProgram is the filter built from sc as the kernel takes it, and
// whether it must be loaded with a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER).
// The exec helper's C side (package nsenter) gets it ready-made.
func seccompProgram(sc *specs.LinuxSeccomp) ([]unix.SockFilter, bool, error) {
	prog, err := seccompFilter(sc)
	if err != nil {
		return nil, false, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, false, fmt.Errorf("seccomp: assemble filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return filter, notifies(sc), nil
}
