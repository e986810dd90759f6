package namespaces

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// runFilter runs the filter on a seccomp_data in x/net/bpf's VM. The VM
// loads words big-endian (network order) while the kernel loads them in
// native order; writing each field big-endian makes both read the same
// numbers, and the filter only ever loads whole 32-bit words.
func runFilter(t *testing.T, prog []bpf.Instruction, arch, nr uint32) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("filter does not assemble: %v", err)
	}
	data := make([]byte, 64) // struct seccomp_data
	binary.BigEndian.PutUint32(data[seccompDataNr:], nr)
	binary.BigEndian.PutUint32(data[seccompDataArch:], arch)
	out, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

func TestDefaultSeccompFilterDecisions(t *testing.T) {
	if _, ok := seccompArch[runtime.GOARCH]; !ok {
		t.Skipf("no seccomp filter for %s", runtime.GOARCH)
	}
	prog, err := seccompFilter(DefaultSeccomp())
	if err != nil {
		t.Fatal(err)
	}
	native := auditArch[seccompArch[runtime.GOARCH]]
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	for _, c := range []struct {
		name string
		nr   uint32
		want uint32
	}{
		{"kexec_load", unix.SYS_KEXEC_LOAD, eperm},
		{"kexec_file_load", unix.SYS_KEXEC_FILE_LOAD, eperm},
		{"open_by_handle_at", unix.SYS_OPEN_BY_HANDLE_AT, eperm},
		{"init_module", unix.SYS_INIT_MODULE, eperm},
		{"finit_module", unix.SYS_FINIT_MODULE, eperm},
		{"delete_module", unix.SYS_DELETE_MODULE, eperm},
		{"bpf", unix.SYS_BPF, eperm},
		{"keyctl", unix.SYS_KEYCTL, enosys},
		{"add_key", unix.SYS_ADD_KEY, enosys},
		{"request_key", unix.SYS_REQUEST_KEY, enosys},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, enosys},
		{"io_uring_enter", unix.SYS_IO_URING_ENTER, enosys},
		{"io_uring_register", unix.SYS_IO_URING_REGISTER, enosys},
		// What a system needs stays allowed.
		{"getpid", unix.SYS_GETPID, unix.SECCOMP_RET_ALLOW},
		{"mount", unix.SYS_MOUNT, unix.SECCOMP_RET_ALLOW},
		{"reboot", unix.SYS_REBOOT, unix.SECCOMP_RET_ALLOW},
		{"setuid", unix.SYS_SETUID, unix.SECCOMP_RET_ALLOW},
		{"name_to_handle_at", unix.SYS_NAME_TO_HANDLE_AT, unix.SECCOMP_RET_ALLOW},
	} {
		if got := runFilter(t, prog, native, c.nr); got != c.want {
			t.Errorf("%s (%d): filter returns %#x, want %#x", c.name, c.nr, got, c.want)
		}
	}
	// Foreign ABIs are killed whatever the number: i386's getpid is 20,
	// which is x86_64's writev.
	for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_ARM, 0} {
		if got := runFilter(t, prog, arch, 20); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("arch %#x: filter returns %#x, want kill-process", arch, got)
		}
	}
	if native == unix.AUDIT_ARCH_X86_64 {
		if got := runFilter(t, prog, native, x32SyscallBit|unix.SYS_GETPID); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("x32 getpid: filter returns %#x, want kill-process", got)
		}
	}
}

func TestSeccompFilterFromSpec(t *testing.T) {
	if _, ok := seccompArch[runtime.GOARCH]; !ok {
		t.Skipf("no seccomp filter for %s", runtime.GOARCH)
	}
	native := seccompArch[runtime.GOARCH]
	e := uint(13)
	// An allow-list policy: the first rule naming a syscall wins.
	sc := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mount"}, Action: specs.ActAllow},
			{Names: []string{"mount", "ptrace"}, Action: specs.ActErrno, ErrnoRet: &e},
		},
	}
	prog, err := seccompFilter(sc)
	if err != nil {
		t.Fatal(err)
	}
	arch := auditArch[native]
	if got := runFilter(t, prog, arch, unix.SYS_MOUNT); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("mount: %#x, want allow (first rule)", got)
	}
	if got := runFilter(t, prog, arch, unix.SYS_PTRACE); got != unix.SECCOMP_RET_ERRNO|13 {
		t.Errorf("ptrace: %#x, want errno 13", got)
	}
	if got := runFilter(t, prog, arch, unix.SYS_GETPID); got != unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM) {
		t.Errorf("getpid under default errno: %#x, want EPERM", got)
	}
	for name, bad := range map[string]*specs.LinuxSeccomp{
		"unknown syscall":   {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"kexec_lod"}, Action: specs.ActErrno}}},
		"foreign arch":      {DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86, native}},
		"arg conditions":    {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0}}}}},
		"unknown action":    {DefaultAction: "SCMP_ACT_FROBNICATE"},
		"no listener":       {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"sysinfo"}, Action: specs.ActNotify}}},
		"relative listener": {DefaultAction: specs.ActAllow, ListenerPath: "run/agent.sock", Syscalls: []specs.LinuxSyscall{{Names: []string{"sysinfo"}, Action: specs.ActNotify}}},
		"errno 0":           {DefaultAction: specs.ActErrno, DefaultErrnoRet: new(uint)},
	} {
		if err := CheckSeccomp(bad); err == nil {
			t.Errorf("%s: policy accepted", name)
		}
	}
}

// seccompProbeEnv makes the test binary a probe: it installs the default
// filter the way the zone init does (root, no no_new_privs) and reports
// what a few syscalls answer.
const seccompProbeEnv = "ZONED_TEST_SECCOMP_PROBE"

func init() {
	mode := os.Getenv(seccompProbeEnv)
	if mode == "" {
		return
	}
	runtime.LockOSThread()
	if mode != "none" {
		if _, err := installSeccomp(DefaultSeccomp()); err != nil {
			fmt.Println("install:", err)
			os.Exit(2)
		}
	}
	if mode == "x32" {
		unix.Syscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
		fmt.Println("x32 syscall returned")
		os.Exit(0)
	}
	errno := func(trap uintptr, a ...uintptr) string {
		a = append(a, 0, 0, 0, 0)
		_, _, e := unix.Syscall6(trap, a[0], a[1], a[2], a[3], 0, 0)
		return unix.ErrnoName(e)
	}
	empty := []byte{0}
	fmt.Println("kexec_load", errno(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0x80))
	fmt.Println("open_by_handle_at", errno(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0))
	fmt.Println("finit_module", errno(unix.SYS_FINIT_MODULE, ^uintptr(0), uintptr(unsafe.Pointer(&empty[0])), 0))
	fmt.Println("keyctl", errno(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(0xfffffffd), 0)) // KEY_SPEC_PROCESS_KEYRING
	fmt.Println("getppid", errno(unix.SYS_GETPPID))
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 2 && (f[0] == "Seccomp:" || f[0] == "NoNewPrivs:") {
			fmt.Println(strings.TrimSuffix(f[0], ":"), f[1])
		}
	}
	os.Exit(0)
}

func seccompProbe(t *testing.T, mode string) (map[string]string, error) {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), seccompProbeEnv+"="+mode)
	out, err := cmd.Output()
	res := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			res[k] = v
		}
	}
	return res, err
}

// TestSeccompInKernel installs the default filter in a root process with
// every capability, as the zone init has before execve, and checks that
// the kernel enforces it: denied calls answer EPERM where the unfiltered
// kernel answers something else (so the filter, not a missing capability,
// stopped them), the keyring answers ENOSYS, and no_new_privs stays off.
func TestSeccompInKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: installing a filter without no_new_privs needs CAP_SYS_ADMIN")
	}
	if _, ok := seccompArch[runtime.GOARCH]; !ok {
		t.Skipf("no seccomp filter for %s", runtime.GOARCH)
	}
	if _, err := os.Stat("/proc/sys/kernel/seccomp/actions_avail"); err != nil {
		t.Skip("kernel without seccomp filters (CONFIG_SECCOMP_FILTER)")
	}
	before, err := seccompProbe(t, "none")
	if err != nil {
		t.Fatalf("unfiltered probe: %v %v", err, before)
	}
	after, err := seccompProbe(t, "default")
	if err != nil {
		t.Fatalf("filtered probe: %v %v", err, after)
	}
	for _, call := range []string{"kexec_load", "open_by_handle_at", "finit_module"} {
		if after[call] != "EPERM" {
			t.Errorf("%s under the filter: %s, want EPERM", call, after[call])
		}
		if before[call] == "EPERM" {
			t.Logf("%s is refused even without the filter here (%s); the filter is a second lock", call, before[call])
		}
	}
	if after["keyctl"] != "ENOSYS" || before["keyctl"] == "ENOSYS" {
		t.Errorf("keyctl: %s with the filter, %s without; want ENOSYS only with it", after["keyctl"], before["keyctl"])
	}
	if after["getppid"] != "" {
		t.Errorf("getppid under the filter: %s, want success", after["getppid"])
	}
	if after["Seccomp"] != "2" || after["NoNewPrivs"] != "0" {
		t.Errorf("status: Seccomp %s NoNewPrivs %s, want 2 (filter) and 0 (setuid keeps working)", after["Seccomp"], after["NoNewPrivs"])
	}
	if runtime.GOARCH == "amd64" {
		out, err := seccompProbe(t, "x32")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGSYS {
			t.Errorf("x32 syscall under the filter: %v %v, want death by SIGSYS", err, out)
		}
	}
}

// notifyPolicy is the default policy with sysinfo handed to the agent
// listening at path.
func notifyPolicy(path string) *specs.LinuxSeccomp {
	sc := DefaultSeccomp()
	sc.Syscalls = append([]specs.LinuxSyscall{{Names: []string{"sysinfo"}, Action: specs.ActNotify}}, sc.Syscalls...)
	sc.ListenerPath = path
	sc.ListenerMetadata = "meta"
	return sc
}

// receiveListener accepts one hand-over on ln and returns the state and
// what the descriptor is. It runs beside the test, so it returns errors
// rather than failing.
func receiveListener(ln *net.UnixListener) (specs.ContainerProcessState, string, error) {
	var st specs.ContainerProcessState
	ln.SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.AcceptUnix()
	if err != nil {
		return st, "", fmt.Errorf("no listener handed over: %w", err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return st, "", err
	}
	if err := json.Unmarshal(buf[:n], &st); err != nil {
		return st, "", fmt.Errorf("state %q: %w", buf[:n], err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return st, "", fmt.Errorf("no descriptor came with the state (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return st, "", fmt.Errorf("descriptors %v: %v", fds, err)
	}
	defer unix.Close(fds[0])
	what, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fds[0]))
	return st, what, err
}

// A zone's init and a command exec'd into it each hand the listener of
// their filter to the policy's listenerPath, as OCI runtimes do.
func TestSeccompListenerHandedOver(t *testing.T) {
	requireZones(t)
	path := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type got struct {
		st   specs.ContainerProcessState
		what string
		err  error
	}
	recv := make(chan got, 1)
	receive := func() { st, what, err := receiveListener(ln); recv <- got{st, what, err} }
	go receive()
	z := startZone(t, sleepInit, func(c *InitConfig) { c.Spec.Linux.Seccomp = notifyPolicy(path) })
	r := <-recv
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.what != "anon_inode:seccomp notify" {
		t.Errorf("the init's descriptor is %q, not a seccomp listener", r.what)
	}
	if r.st.Pid != z.init.Pid || r.st.State.ID == "" || r.st.Metadata != "meta" || len(r.st.Fds) != 1 || r.st.Fds[0] != specs.SeccompFdName {
		t.Errorf("state of the init's hand-over = %+v (init pid %d)", r.st, z.init.Pid)
	}

	go receive()
	p, err := Exec(ExecOptions{InitPid: z.init.Pid, InitStartTime: z.init.StartTime, Args: []string{"/bin/true"},
		Seccomp: notifyPolicy(path), Zone: "z1", JoinCgroup: z.cg.add})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Errorf("exec under a notifying filter: %d, %v", code, err)
	}
	r = <-recv
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.what != "anon_inode:seccomp notify" || r.st.Pid != p.Pid || r.st.State.ID != "z1" {
		t.Errorf("exec's hand-over: %q, state %+v (command pid %d)", r.what, r.st, p.Pid)
	}
}

// Nothing listening at listenerPath fails the start, naming the path, and
// leaves no process.
func TestSeccompListenerNobodyListens(t *testing.T) {
	requireZones(t)
	rm := overlayRoot(t)
	cg := newTestCgroup(t)
	path := filepath.Join(t.TempDir(), "nobody.sock")
	spec := DefaultSpec("nolistener", "nolistener", sleepInit)
	spec.Root.Path = rm.Destination
	spec.Linux.Seccomp = notifyPolicy(path)
	var pid int
	_, err := Spawn(SpawnOptions{
		Config: InitConfig{Zone: "nolistener", Spec: spec, RootMount: rm},
		Setup:  func(p int) error { pid = p; return cg.add(p) },
	})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("child %d left behind: %v", pid, err)
	}
}
