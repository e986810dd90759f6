//go:build linux

package integration

// The escape-attempt suite: a zone's root tries what a hostile customer
// would try to reach the host, another zone or the daemon. Each attempt
// must fail, and each test asserts how it failed (the errno), because that
// names the defence that stopped it: EPERM where the bare kernel answers
// EINVAL or ENOSYS is seccomp, EROFS is a read-only mount, ESRCH is the
// PID namespace, EPERM on opening a device is the device cgroup.
// docs/security.md lists them. Raw syscalls come from a small static Go
// program (testdata/escape) copied into each zone's own layer.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

var (
	escapeOnce sync.Once
	escapeBin  string
	escapeErr  error
)

// buildEscape compiles testdata/escape once per run, static so it runs in
// any zone root.
func buildEscape(t *testing.T) string {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skipf("the escape helper's syscalls are written for amd64, not %s", runtime.GOARCH)
	}
	buildBinaries(t)
	escapeOnce.Do(func() {
		dir := binDir
		if dir == "" {
			dir = filepath.Dir(zonedBin)
		}
		escapeBin = filepath.Join(dir, "escape")
		// The stock-kernel lane builds it outside the emulated guest.
		if _, err := os.Stat(escapeBin); err == nil && os.Getenv("ZONED_TEST_BIN_DIR") != "" {
			return
		}
		cmd := exec.Command("go", "build", "-o", escapeBin, "./testdata/escape")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			escapeErr = fmt.Errorf("build escape helper: %v\n%s", err, out)
		}
	})
	if escapeErr != nil {
		t.Fatal(escapeErr)
	}
	return escapeBin
}

// createEscapeZone creates a busybox zone, puts the helper at
// /usr/local/bin/escape in its own layer while it is stopped, and starts it.
func (d *daemon) createEscapeZone(t *testing.T, name string, res api.Resources) *api.Zone {
	t.Helper()
	return d.createEscapeZoneAs(t, name, res, true)
}

// createEscapeZoneAs is createEscapeZone with the choice of a privileged
// zone or an unprivileged one (in a user namespace).
func (d *daemon) createEscapeZoneAs(t *testing.T, name string, res api.Resources, privileged bool) *api.Zone {
	t.Helper()
	bin := buildEscape(t)
	ctx := ctxT(t)
	// createEscapeZone makes privileged zones: the suite asserts which of
	// zoned's own defences stops each attempt when root inside is host
	// root, the most exposed kind of zone. In an unprivileged zone (the
	// default) the user namespace stops many of them earlier, with other
	// errors (userns_test.go).
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Resources: res, Privileged: privileged}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	// The zone's own layer: an overlay upper dir, or in a btrfs pool the
	// zone's snapshot of the template.
	layer := filepath.Join(d.dataDir, "zones", name, "upper")
	if _, err := os.Stat(filepath.Join(d.dataDir, "zones", name, "rootfs")); err == nil {
		layer = filepath.Join(d.dataDir, "zones", name, "rootfs")
	}
	dir := filepath.Join(layer, "usr", "local", "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "escape"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	z, err := d.c.StartZone(ctx, name)
	if err != nil {
		t.Fatalf("start %s: %v\nlog:\n%s", name, err, d.logs())
	}
	return z
}

// try runs the helper in the zone and returns its one-word answer.
func (d *daemon) try(zone string, args ...string) string {
	d.t.Helper()
	r := d.exec(zone, "", append([]string{"/usr/local/bin/escape"}, args...)...)
	if r.code == 2 {
		d.t.Fatalf("escape %v: usage error: %s", args, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// tryHost runs the helper on the host, unconfined: the control that shows
// the kernel would answer differently without the zone's defences.
func tryHost(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(buildEscape(t), args...).Output()
	if err != nil {
		t.Fatalf("escape %v on the host: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

// hasUserNamespace reports whether the zone's init runs in a user
// namespace of its own (a uid map other than the identity).
func hasUserNamespace(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	return err == nil && strings.Join(strings.Fields(string(data)), " ") != "0 0 4294967295"
}

func TestEscapeHostBlockDevice(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "blk", api.Resources{})
	maj, min := hostLoopDisk(t, "host-secret")
	// No host disk is in the zone's /dev.
	if out := d.exec("blk", "", "sh", "-c", "ls /dev | grep -E '^(loop|sd|vd|nvme|xvd)'").stdout; out != "" {
		t.Errorf("zone's /dev shows host disks: %q", out)
	}
	// The zone may make the node (CAP_MKNOD stays, for package installs)...
	if got := d.try("blk", "mknod-block", "/tmp/disk", strconv.Itoa(maj), strconv.Itoa(min)); got != "OK" {
		t.Fatalf("mknod in the zone: %s, want OK (CAP_MKNOD is kept)", got)
	}
	// ...but the device cgroup refuses to open it: EPERM on read, and
	// EPERM on mount where a device the kernel let through would give
	// EINVAL (no filesystem on it).
	if got := d.try("blk", "read", "/tmp/disk"); got != "EPERM" {
		t.Errorf("reading host disk %d:%d from the zone: %s, want EPERM (device cgroup)", maj, min, got)
	}
	d.mustExec("blk", "mkdir", "-p", "/mnt/host")
	if got := d.try("blk", "mount", "/tmp/disk", "/mnt/host", "ext4"); got != "EPERM" {
		t.Errorf("mounting host disk %d:%d in the zone: %s, want EPERM (device cgroup)", maj, min, got)
	}
	// busybox mount says the same in its words.
	if r := d.exec("blk", "", "mount", "-t", "ext4", "/tmp/disk", "/mnt/host"); r.code == 0 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("busybox mount of host disk: %+v, want 'permission denied'", r)
	}
}

func TestEscapeProcKnobs(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "procs", api.Resources{})
	t.Run("sysrq-trigger", func(t *testing.T) {
		if _, err := os.Stat("/proc/sysrq-trigger"); err != nil {
			t.Skip("kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ)")
		}
		// Masked: /dev/null is bound over it, so a write goes nowhere.
		if got := strings.TrimSpace(d.mustExec("procs", "stat", "-c", "%t:%T", "/proc/sysrq-trigger")); got != "1:3" {
			t.Errorf("/proc/sysrq-trigger in the zone is device %s, want 1:3 (/dev/null over it)", got)
		}
	})
	// Host-wide sysctls are read-only: a core_pattern would run a program
	// as host root.
	for _, p := range []string{"/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/modprobe"} {
		if _, err := os.Stat(p); err != nil {
			continue // this kernel does not have it (modprobe: no module support)
		}
		if got := d.try("procs", "openw", p); got != "EROFS" {
			t.Errorf("open %s for writing: %s, want EROFS (read-only /proc/sys)", p, got)
		}
	}
	// The zone's own network sysctls stay writable.
	if got := d.try("procs", "openw", "/proc/sys/net/ipv4/ip_forward"); got != "OK" {
		t.Errorf("open the zone's own ip_forward for writing: %s, want OK", got)
	}
	// Masked host information reads empty.
	for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/kpageflags", "/proc/kcore", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err != nil {
			continue // this kernel does not have it
		}
		if got := d.try("procs", "read", p); got != `OK ""` {
			t.Errorf("read %s in the zone: %s, want it empty (masked)", p, got)
		}
	}
	if out := d.mustExec("procs", "ls", "-A", "/proc/acpi"); strings.TrimSpace(out) != "" {
		t.Errorf("/proc/acpi in the zone lists %q, want nothing (masked)", out)
	}
	// /sys is read-only.
	if got := d.try("procs", "openw", "/sys/kernel/uevent_helper"); got != "EROFS" && got != "ENOENT" {
		t.Errorf("open /sys/kernel/uevent_helper for writing: %s, want EROFS", got)
	}
}

// seccompOn checks that the zone's commands run under the filter and with
// the bounding set, without no_new_privs.
func seccompOn(t *testing.T, d *daemon, zone string) (capBnd string) {
	t.Helper()
	status := d.try(zone, "status")
	if field(status, "Seccomp:") != "2" {
		t.Errorf("exec'd command is not under a seccomp filter: Seccomp %q", field(status, "Seccomp:"))
	}
	if field(status, "NoNewPrivs:") != "0" {
		t.Errorf("NoNewPrivs is %q: setuid programs would break", field(status, "NoNewPrivs:"))
	}
	return field(status, "CapBnd:")
}

func TestEscapeKernelModule(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "mod", api.Resources{})
	if capBnd := seccompOn(t, d, "mod"); bit(capBnd, 16) {
		t.Errorf("CapBnd %s includes CAP_SYS_MODULE", capBnd)
	}
	// Both locks give EPERM; the host's answer for the same call shows
	// the kernel itself would say something else (ENOEXEC for a file that
	// is no module, ENOSYS without module support).
	host := tryHost(t, "finit_module", buildEscape(t))
	if got := d.try("mod", "finit_module", "/bin/busybox"); got != "EPERM" || host == "EPERM" {
		t.Errorf("finit_module: %s in the zone, %s on the host; want EPERM only in the zone", got, host)
	}
	d.mustExec("mod", "sh", "-c", "head -c 4096 /bin/busybox > /tmp/evil.ko")
	if r := d.exec("mod", "", "insmod", "/tmp/evil.ko"); r.code == 0 || !strings.Contains(r.stderr, "not permitted") {
		t.Errorf("busybox insmod: %+v, want 'Operation not permitted'", r)
	}
	// The zone sees no module tree to load from either.
	if r := d.exec("mod", "", "modprobe", "loop"); r.code == 0 {
		t.Errorf("modprobe succeeded in the zone: %+v", r)
	}
}

func TestEscapeKexec(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "kx", api.Resources{})
	seccompOn(t, d, "kx")
	// On the host the bad flag gives EINVAL (ENOSYS without kexec);
	// EPERM in the zone is seccomp: the zone keeps CAP_SYS_BOOT.
	host := tryHost(t, "kexec")
	if got := d.try("kx", "kexec"); got != "EPERM" || host == "EPERM" {
		t.Errorf("kexec_load: %s in the zone, %s on the host; want EPERM only in the zone (seccomp)", got, host)
	}
	if got := d.try("kx", "kexec_file"); got != "EPERM" {
		t.Errorf("kexec_file_load in the zone: %s, want EPERM (seccomp)", got)
	}
	// The keyring answers ENOSYS so guests fall back.
	if got, host := d.try("kx", "keyctl"), tryHost(t, "keyctl"); got != "ENOSYS" || host == "ENOSYS" {
		t.Errorf("keyctl: %s in the zone, %s on the host; want ENOSYS only in the zone", got, host)
	}
	// A syscall through the x32 ABI kills the process (SIGSYS = 31).
	if r := d.exec("kx", "", "/usr/local/bin/escape", "x32"); r.code != 128+31 {
		t.Errorf("x32 syscall: exit %d %q, want death by SIGSYS (159)", r.code, r.stdout)
	}
}

func TestEscapeRebootEndsOnlyTheZone(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	z := d.createEscapeZone(t, "boot", api.Resources{})
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	// reboot -f calls reboot(2) at once, not through the zone's init.
	d.exec("boot", "", "reboot", "-f")
	waitFor(t, 20*time.Second, "zone to restart after reboot(2)", func() bool {
		nz, err := d.c.GetZone(ctx, "boot")
		return err == nil && nz.State == api.StateRunning && nz.InitPID != 0 && nz.InitPID != z.InitPID
	})
	d.exec("boot", "", "poweroff", "-f")
	waitFor(t, 20*time.Second, "zone to stop after poweroff(2)", func() bool {
		nz, err := d.c.GetZone(ctx, "boot")
		return err == nil && nz.State == api.StateStopped
	})
	if now, _ := os.ReadFile("/proc/sys/kernel/random/boot_id"); string(now) != string(bootID) {
		t.Fatalf("the host rebooted") // not reached: we would not be here
	}
	if _, err := d.c.Info(ctx); err != nil {
		t.Errorf("daemon does not answer after the zone's reboot and poweroff: %v", err)
	}
}

func TestEscapeShocker(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "shock", api.Resources{})
	if capBnd := seccompOn(t, d, "shock"); bit(capBnd, 2) {
		t.Errorf("CapBnd %s includes CAP_DAC_READ_SEARCH", capBnd)
	}
	// On the host, with every capability, the handle of inode 2 opens
	// (or fails for the filesystem's own reasons); in the zone both the
	// dropped capability and seccomp answer EPERM.
	host := tryHost(t, "shocker")
	if got := d.try("shock", "shocker"); got != "EPERM" {
		t.Errorf("open_by_handle_at in the zone: %s (host: %s), want EPERM", got, host)
	}
}

func TestEscapeProcRootAndNamespaces(t *testing.T) {
	d := startDaemon(t)
	z := d.createEscapeZone(t, "pr", api.Resources{})
	// Only the zone's processes exist in its /proc.
	pids := strings.Fields(d.mustExec("pr", "sh", "-c", "cd /proc && echo [0-9]*"))
	for _, p := range pids {
		if n, _ := strconv.Atoi(p); n > 1000 {
			t.Errorf("zone sees pid %s, not one of its own few", p)
		}
	}
	for _, host := range []int{os.Getpid(), d.cmd.Process.Pid, z.InitPID} {
		if got := d.try("pr", "read", fmt.Sprintf("/proc/%d/root/etc/hostname", host)); got != "ENOENT" {
			t.Errorf("zone reaches host pid %d's root: %s, want ENOENT (PID namespace)", host, got)
		}
	}
	// /proc/1/root is the zone's own root, and /proc/1/ns are its own.
	if got := strings.TrimSpace(d.mustExec("pr", "cat", "/proc/1/root/etc/hostname")); got != "pr" {
		t.Errorf("/proc/1/root/etc/hostname in the zone = %q, want the zone's hostname", got)
	}
	for _, ns := range []string{"mnt", "pid", "net", "ipc", "uts", "cgroup"} {
		inside := strings.TrimSpace(d.mustExec("pr", "readlink", "/proc/1/ns/"+ns))
		host, _ := os.Readlink("/proc/1/ns/" + ns)
		if inside == host {
			t.Errorf("the zone's pid 1 is in the host's %s namespace %s", ns, host)
		}
	}
}

func TestEscapePtraceHost(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "pt", api.Resources{})
	for _, pid := range []int{os.Getpid(), d.cmd.Process.Pid} {
		if got := d.try("pt", "ptrace", strconv.Itoa(pid)); got != "ESRCH" {
			t.Errorf("ptrace of host pid %d from the zone: %s, want ESRCH (PID namespace)", pid, got)
		}
		if got := d.try("pt", "kill0", strconv.Itoa(pid)); got != "ESRCH" {
			t.Errorf("kill -0 of host pid %d from the zone: %s, want ESRCH", pid, got)
		}
	}
}

func TestEscapeOverwriteExe(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "exe", api.Resources{})
	// An exec'd command's /proc/self/exe is the command, not zoned: there
	// is no host binary behind it to overwrite (CVE-2019-5736).
	if got := strings.TrimSpace(d.mustExec("exe", "readlink", "/proc/self/exe")); got != "/bin/busybox" {
		t.Errorf("/proc/self/exe of an exec'd command = %q, want /bin/busybox", got)
	}
	// The exec helper (a sealed memfd copy of zoned) is the command's
	// parent outside the zone's PID namespace: invisible inside, PPid 0.
	if ppid := field(d.try("exe", "status"), "PPid:"); ppid != "0" {
		t.Errorf("exec'd command's parent is visible in the zone (PPid %s)", ppid)
	}
	links := d.mustExec("exe", "sh", "-c", "for p in /proc/[0-9]*; do readlink $p/exe; done")
	if strings.Contains(links, "memfd") || strings.Contains(links, "zoned") {
		t.Errorf("a zoned binary is visible in the zone:\n%s", links)
	}
	// What is visible is busy: the running init cannot be overwritten.
	if got := d.try("exe", "openw", "/proc/1/exe"); got != "ETXTBSY" {
		t.Errorf("open the zone init's exe for writing: %s, want ETXTBSY", got)
	}
}

func TestEscapeRaiseOwnLimits(t *testing.T) {
	d := startDaemon(t)
	d.createEscapeZone(t, "lim", api.Resources{MemoryBytes: 64 << 20, PidsMax: 100})
	if isUnified() {
		// nsdelegate refuses the write, not the open, to the interface
		// files of a cgroup namespace's root: write the current value
		// back, which changes nothing even if it were allowed.
		for _, f := range []string{"memory.max", "pids.max"} {
			p := "/sys/fs/cgroup/" + f
			r := d.exec("lim", "", "sh", "-c", "v=$(cat "+p+") && echo \"$v\" > "+p)
			if r.code == 0 || !(strings.Contains(r.stderr, "not permitted") || strings.Contains(r.stderr, "denied") || strings.Contains(r.stderr, "Read-only")) {
				t.Errorf("write %s from inside the zone: %+v, want EPERM (nsdelegate)", p, r)
			}
		}
		if got := d.memoryLimit("lim"); got != 64<<20 {
			t.Errorf("memory limit is now %d", got)
		}
	} else {
		for _, f := range []string{"memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "pids/pids.max", "cpu/cpu.cfs_quota_us"} {
			if got := d.try("lim", "openw", "/sys/fs/cgroup/"+f); got != "EROFS" && got != "ENOENT" {
				t.Errorf("open /sys/fs/cgroup/%s for writing: %s, want EROFS (read-only controller mount)", f, got)
			}
		}
		// The v2 names do not exist on a v1 host (the tmpfs is read-only).
		if got := d.try("lim", "openw", "/sys/fs/cgroup/memory.max"); got != "ENOENT" && got != "EROFS" {
			t.Errorf("open /sys/fs/cgroup/memory.max: %s, want ENOENT", got)
		}
	}
	if got := d.memoryLimit("lim"); got != 64<<20 {
		t.Errorf("memory limit now %d, want 64 MiB", got)
	}
	if got := d.pidsLimit("lim"); got != "100" {
		t.Errorf("pids limit now %s, want 100", got)
	}
}

func TestEscapeOtherZone(t *testing.T) {
	d := startDaemon(t)
	a := d.createEscapeZone(t, "za", api.Resources{})
	d.createEscapeZone(t, "zb", api.Resources{})
	// Files: za's are not reachable from zb by path or through /proc.
	d.mustExec("za", "sh", "-c", "echo za-secret > /root/secret")
	if got := d.try("zb", "read", "/root/secret"); got != "ENOENT" {
		t.Errorf("zb reads /root/secret: %s, want ENOENT (own root)", got)
	}
	if got := d.try("zb", "read", fmt.Sprintf("/proc/%d/root/root/secret", a.InitPID)); got != "ENOENT" {
		t.Errorf("zb reads za's file through za's host pid: %s, want ENOENT", got)
	}
	// Processes: za's sleeper is not in zb.
	d.mustExec("za", "sh", "-c", "sleep 300 >/dev/null 2>&1 &")
	if ps := d.mustExec("zb", "ps"); strings.Contains(ps, "sleep 300") {
		t.Errorf("zb sees za's process:\n%s", ps)
	}
	// IPC: a SysV segment made in za does not exist in zb.
	if got := d.try("za", "shmmk", "4242"); got != "OK" {
		t.Fatalf("shmget IPC_CREAT in za: %s", got)
	}
	if got := d.try("za", "shmget", "4242"); got != "OK" {
		t.Errorf("za cannot find its own segment: %s", got)
	}
	if got := d.try("zb", "shmget", "4242"); got != "ENOENT" {
		t.Errorf("zb finds za's IPC segment: %s, want ENOENT (IPC namespace)", got)
	}
	// Sockets: an abstract unix socket lives in its network namespace.
	d.mustExec("za", "sh", "-c", "/usr/local/bin/escape listen zoned-escape > /tmp/listen 2>&1 &")
	waitFor(t, 10*time.Second, "listener in za", func() bool {
		return strings.TrimSpace(d.exec("za", "", "cat", "/tmp/listen").stdout) == "OK"
	})
	if got := d.try("za", "connect", "zoned-escape"); got != "OK" {
		t.Errorf("za cannot connect to its own abstract socket: %s", got)
	}
	if got := d.try("zb", "connect", "zoned-escape"); got != "ECONNREFUSED" {
		t.Errorf("zb connects to za's abstract socket: %s, want ECONNREFUSED (network namespace)", got)
	}
	if got := tryHost(t, "connect", "zoned-escape"); got != "ECONNREFUSED" {
		t.Errorf("the host connects to za's abstract socket: %s, want ECONNREFUSED", got)
	}
}

func TestEscapeExhaustion(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	// Memory is above the 64 MiB /dev/shm, whose pages it is charged for.
	d.createEscapeZone(t, "hog", api.Resources{MemoryBytes: 128 << 20, PidsMax: 64})
	// Processes: a fork bomb fills the pids limit and no more. Its
	// sleepers end by themselves: a full zone cannot even fork the
	// command that would kill them.
	d.exec("hog", "", "sh", "-c", "for i in $(seq 200); do sleep 4 </dev/null >/dev/null 2>&1 & done")
	if n, _ := strconv.Atoi(d.cgroupFile("hog", "pids", "pids.current")); n > 64 || n < 32 {
		t.Errorf("zone holds %d tasks, want the limit of 64 filled and not passed", n)
	}
	if _, err := d.c.Info(ctx); err != nil {
		t.Errorf("daemon does not answer while the zone is full: %v", err)
	}
	waitFor(t, 30*time.Second, "the fork bomb's sleepers to end", func() bool {
		n, _ := strconv.Atoi(d.cgroupFile("hog", "pids", "pids.current"))
		return n < 10
	})
	// Disk: /dev/shm is a bounded tmpfs.
	r := d.exec("hog", "", "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=200")
	if r.code == 0 || !strings.Contains(r.stderr, "No space left") {
		t.Errorf("filling /dev/shm: %+v, want 'No space left on device'", r)
	}
	d.mustExec("hog", "rm", "-f", "/dev/shm/fill")
	// Memory: the OOM killer acts inside the zone.
	r = d.exec("hog", "", "awk", `BEGIN { s = "x"; while (length(s) < 268435456) s = s s; print length(s) }`)
	if r.code != 137 {
		t.Errorf("256 MiB allocation in a 128 MiB zone ended %d, want 137 (OOM kill in the zone)", r.code)
	}
	// The host and the daemon are fine.
	if err := execHost("true"); err != nil {
		t.Errorf("host cannot fork: %v", err)
	}
	if _, err := d.c.Info(ctx); err != nil {
		t.Errorf("daemon does not answer: %v", err)
	}
	if z, err := d.c.GetZone(ctx, "hog"); err != nil || z.State != api.StateRunning {
		t.Errorf("zone after exhaustion: %+v %v", z, err)
	}
	t.Log("the zone's root filesystem has no size limit yet: disk quotas come with the quota package (this kernel lacks ext4/XFS project quotas)")
}

// TestEscapeBypassMasks tries the ways around masks and read-only mounts
// that a root holding CAP_SYS_ADMIN in the host's user namespace has:
// unmount the mask, mount a fresh proc, sysfs or cgroup, remount
// read-write. Only a user namespace stops them (mounts made by the host
// are locked, and host-owned files stay host-owned). Every probe opens a
// file for writing and closes it unwritten, so nothing changes even where
// it succeeds.
func TestEscapeBypassMasks(t *testing.T) {
	d := startDaemon(t)
	// Unprivileged, the default: no hole may remain in a user namespace.
	z := d.createEscapeZoneAs(t, "byp", api.Resources{MemoryBytes: 64 << 20}, false)
	userns := hasUserNamespace(z.InitPID)
	d.mustExec("byp", "mkdir", "-p", "/tmp/p", "/tmp/s", "/tmp/c")
	type probe struct {
		name, setup, target string
	}
	probes := []probe{
		{"unmount read-only /proc/sys", "umount -l /proc/sys", "/proc/sys/kernel/core_pattern"},
		{"fresh proc", "mount -t proc proc /tmp/p", "/tmp/p/sys/kernel/core_pattern"},
	}
	// A host-wide sysfs knob this kernel has.
	for _, k := range []string{"kernel/uevent_helper", "kernel/mm/transparent_hugepage/enabled", "power/state", "kernel/profiling"} {
		if _, err := os.Stat("/sys/" + k); err == nil {
			probes = append(probes, probe{"fresh sysfs", "mount -t sysfs sysfs /tmp/s", "/tmp/s/" + k})
			break
		}
	}
	if !isUnified() {
		probes = append(probes,
			probe{"remount memory cgroup read-write", "mount -o remount,bind,rw /sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
			probe{"fresh memory cgroup mount", "mount -t cgroup -o memory cgroup /tmp/c", "/tmp/c/memory.limit_in_bytes"})
	}
	var holes []string
	for _, p := range probes {
		setup := d.exec("byp", "", "sh", "-c", p.setup)
		got := d.try("byp", "openw", p.target)
		switch {
		case got != "OK":
			t.Logf("%s: %s (setup: exit %d %s)", p.name, got, setup.code, strings.TrimSpace(setup.stderr))
		case userns:
			t.Errorf("%s: %s opens for writing despite the user namespace", p.name, p.target)
		default:
			holes = append(holes, fmt.Sprintf("%s then open %s", p.name, p.target))
		}
	}
	if got := d.memoryLimit("byp"); got != 64<<20 {
		t.Errorf("memory limit changed to %d", got)
	}
	if len(holes) > 0 {
		t.Skipf("known holes while zones run without a user namespace (CAP_SYS_ADMIN in the host's user namespace): %s", strings.Join(holes, "; "))
	}
}
