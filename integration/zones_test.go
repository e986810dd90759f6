//go:build linux

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

func TestBusyboxZoneLifecycle(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	z, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "web1", Template: "busybox", Hostname: "web1.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if z.State != api.StateStopped {
		t.Fatalf("new zone is %s, want stopped", z.State)
	}
	z, err = d.c.StartZone(ctx, "web1")
	if err != nil {
		t.Fatalf("start: %v\n%s", err, d.logs())
	}
	if z.State != api.StateRunning || z.InitPID <= 0 {
		t.Fatalf("started zone: state %s pid %d", z.State, z.InitPID)
	}
	// The template's init is PID 1 in the zone's own PID namespace.
	if got := d.mustExec("web1", "cat", "/proc/1/comm"); strings.TrimSpace(got) != "init" {
		t.Errorf("PID 1 inside is %q, want busybox init", got)
	}
	hostPIDNS, _ := os.Readlink("/proc/self/ns/pid")
	zonePIDNS, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", z.InitPID))
	if hostPIDNS == zonePIDNS {
		t.Errorf("zone shares the host's PID namespace %s", hostPIDNS)
	}
	for _, ns := range []string{"mnt", "uts", "ipc", "net", "cgroup"} {
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		zone, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", z.InitPID, ns))
		if host == zone || zone == "" {
			t.Errorf("zone's %s namespace %q is not its own (host %q)", ns, zone, host)
		}
	}
	if got := strings.TrimSpace(d.mustExec("web1", "hostname")); got != "web1.example.com" {
		t.Errorf("hostname inside = %q", got)
	}
	// Loopback is up in the zone's network namespace.
	if got := d.mustExec("web1", "cat", "/sys/class/net/lo/operstate"); strings.TrimSpace(got) == "down" {
		t.Errorf("loopback is down inside")
	}
	// /dev holds only what a system needs.
	devs := strings.Fields(d.mustExec("web1", "ls", "/dev"))
	for _, want := range []string{"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "console", "shm"} {
		if !contains(devs, want) {
			t.Errorf("/dev lacks %s: %v", want, devs)
		}
	}
	for _, dev := range devs {
		if strings.HasPrefix(dev, "sd") || strings.HasPrefix(dev, "vd") || dev == "mem" || dev == "kmsg" {
			t.Errorf("/dev exposes host device %s", dev)
		}
	}
	// The zone may make a node for a host disk but not open it: the
	// device policy allows only the nodes a system needs. The disk is a
	// loop device this test makes, holding a secret the zone must not read.
	maj, min := hostLoopDisk(t, "host-secret")
	r := d.exec("web1", "", "sh", "-c", fmt.Sprintf("mknod /tmp/hostdisk b %d %d && head -c 11 /tmp/hostdisk", maj, min))
	if strings.Contains(r.stdout, "host-secret") {
		t.Errorf("zone read a host disk %d:%d through a node it made", maj, min)
	}
	if !strings.Contains(r.stderr, "not permitted") {
		t.Errorf("opening the host disk node failed, but not by the device policy: %+v", r)
	}
	// /sys is read-only.
	if r := d.exec("web1", "", "sh", "-c", "echo 1 > /sys/kernel/uevent_helper"); r.code == 0 {
		t.Errorf("writing /sys succeeded inside the zone")
	}
	// The zone's capability bounding set lacks CAP_SYS_MODULE (bit 16).
	status := d.mustExec("web1", "cat", "/proc/1/status")
	if capBnd := field(status, "CapBnd:"); capBnd == "" || bit(capBnd, 16) {
		t.Errorf("CapBnd %q includes CAP_SYS_MODULE", capBnd)
	}
	// The console log has what the zone's rcS printed.
	waitFor(t, 10*time.Second, "console log", func() bool {
		rc, err := d.c.ConsoleLog(ctx, "web1")
		if err != nil {
			return false
		}
		defer rc.Close()
		buf := make([]byte, 64<<10)
		n, _ := rc.Read(buf)
		return strings.Contains(string(buf[:n]), "zone web1.example.com is up")
	})

	list, err := d.c.ListZones(ctx)
	if err != nil || len(list) != 1 || list[0].Usage == nil || list[0].Usage.Processes == 0 {
		t.Fatalf("list = %+v, %v", list, err)
	}

	// A running zone is not destroyed without force.
	if err := d.c.DestroyZone(ctx, "web1", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("destroy of running zone without force: %v, want conflict", err)
	}
	z, err = d.c.StopZone(ctx, "web1", api.StopRequest{TimeoutSeconds: 20})
	if err != nil {
		t.Fatal(err)
	}
	if z.State != api.StateStopped || z.LastExit != "poweroff" {
		t.Errorf("after stop: state %s, last exit %q; want stopped by poweroff", z.State, z.LastExit)
	}
	if processAlive(list[0].InitPID) {
		t.Errorf("init pid %d still alive after stop", list[0].InitPID)
	}
	if err := d.c.DestroyZone(ctx, "web1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.GetZone(ctx, "web1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get after destroy: %v, want not found", err)
	}
}

func TestZonesCannotSeeEachOther(t *testing.T) {
	d := startDaemon(t)
	a := d.createStarted("za", api.Resources{})
	b := d.createStarted("zb", api.Resources{})
	d.mustExec("zb", "sh", "-c", "sleep 300 >/dev/null 2>&1 &")
	psA := d.mustExec("za", "ps", "-o", "pid,comm")
	if strings.Contains(psA, "sleep") {
		t.Errorf("zone za sees zone zb's sleep:\n%s", psA)
	}
	// Inside za only za's own processes exist: init plus the ps.
	pids := 0
	for _, line := range strings.Split(strings.TrimSpace(psA), "\n")[1:] {
		if strings.TrimSpace(line) != "" {
			pids++
		}
	}
	if pids > 4 {
		t.Errorf("zone za sees %d processes, expected only its own few:\n%s", pids, psA)
	}
	// Host PIDs of the other zone are not reachable by number either.
	if r := d.exec("za", "", "kill", "-0", strconv.Itoa(b.InitPID)); r.code == 0 && b.InitPID > 10 {
		t.Errorf("zone za can signal host pid %d of zone zb", b.InitPID)
	}
	// Hostnames differ: separate UTS namespaces.
	if ha, hb := d.mustExec("za", "hostname"), d.mustExec("zb", "hostname"); ha == hb {
		t.Errorf("both zones have hostname %q", ha)
	}
	// A file written in one zone is not in the other or in the template.
	d.mustExec("za", "sh", "-c", "echo secret > /root/only-a")
	if r := d.exec("zb", "", "cat", "/root/only-a"); r.code == 0 {
		t.Errorf("zone zb reads zone za's file")
	}
	if _, err := os.Stat(d.dataDir + "/templates/busybox/rootfs/root/only-a"); err == nil {
		t.Errorf("zone's write reached the template")
	}
	_ = a
}

func TestMemoryLimitKillsInsideZoneOnly(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("mem", api.Resources{MemoryBytes: 48 << 20})
	if got := d.memoryLimit("mem"); got != 48<<20 {
		t.Fatalf("memory limit in kernel = %d, want %d", got, 48<<20)
	}
	// awk doubles a string until it holds 256 MiB, which cannot fit.
	r := d.exec("mem", "", "awk", `BEGIN { s = "x"; while (length(s) < 268435456) s = s s; print length(s) }`)
	if r.code == 0 {
		t.Fatalf("allocating 256 MiB in a 48 MiB zone succeeded: %+v", r)
	}
	if r.code != 137 {
		t.Errorf("allocator ended with %d, want 137 (SIGKILL by the OOM killer)", r.code)
	}
	// The zone and the daemon are fine.
	z, err := d.c.GetZone(ctxT(t), "mem")
	if err != nil || z.State != api.StateRunning {
		t.Fatalf("after OOM: %+v %v", z, err)
	}
	if out := d.mustExec("mem", "echo", "alive"); strings.TrimSpace(out) != "alive" {
		t.Errorf("zone not usable after OOM: %q", out)
	}
	if n := d.oomKills("mem"); n == 0 {
		t.Errorf("the kernel counted no OOM kill in the zone's cgroup")
	}
}

func TestPidsLimitContainsForkBomb(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("pids", api.Resources{PidsMax: 40})
	// Try to start 100 sleepers; the limit stops the rest. Their stdio
	// is detached so the exec ends when the loop does.
	r := d.exec("pids", "", "sh", "-c", "for i in $(seq 100); do sleep 600 </dev/null >/dev/null 2>&1 & done; echo done")
	if !strings.Contains(r.stderr, "fork") {
		t.Errorf("the shell reported no refused fork: %+v", r)
	}
	z, err := d.c.GetZone(ctxT(t), "pids")
	if err != nil {
		t.Fatal(err)
	}
	if z.Usage == nil || z.Usage.Processes > 40 || z.Usage.Processes < 20 {
		t.Errorf("zone has %+v processes, want at most the limit of 40 (and the bomb to have filled it)", z.Usage)
	}
	// The host can still fork, and the zone still stops.
	if err := execHost("true"); err != nil {
		t.Errorf("host cannot fork: %v", err)
	}
	if _, err := d.c.StopZone(ctxT(t), "pids", api.StopRequest{TimeoutSeconds: 5}); err != nil {
		t.Fatal(err)
	}
}

func TestSetAppliesToRunningZoneAndPersists(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("live", api.Resources{MemoryBytes: 256 << 20, PidsMax: 100})
	mem, pids := int64(128<<20), int64(64)
	cpu := int64(50)
	z, err := d.c.UpdateZone(ctxT(t), "live", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem, PidsMax: &pids, CPULimitPercent: &cpu}})
	if err != nil {
		t.Fatal(err)
	}
	if z.Resources.MemoryBytes != mem || z.Resources.PidsMax != pids {
		t.Errorf("answer has %+v", z.Resources)
	}
	if got := d.memoryLimit("live"); got != mem {
		t.Errorf("kernel memory limit %d, want %d", got, mem)
	}
	if got := d.pidsLimit("live"); got != "64" {
		t.Errorf("kernel pids limit %s, want 64", got)
	}
	// The zone itself sees its own limit through its cgroup namespace.
	inside := d.mustExec("live", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
	if strings.TrimSpace(inside) != strconv.FormatInt(mem, 10) {
		t.Errorf("inside the zone the memory limit reads %q", inside)
	}
	// Persisted: a daemon restart keeps it, and so does a zone restart.
	d.stop()
	d.start()
	z, err = d.c.GetZone(ctxT(t), "live")
	if err != nil || z.Resources.MemoryBytes != mem || z.Resources.CPULimitPercent != 50 {
		t.Fatalf("after daemon restart: %+v %v", z, err)
	}
	if _, err := d.c.RestartZone(ctxT(t), "live", api.StopRequest{TimeoutSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	if got := d.memoryLimit("live"); got != mem {
		t.Errorf("after zone restart kernel memory limit %d, want %d", got, mem)
	}
	// A bad value changes nothing.
	bad := int64(-5)
	if _, err := d.c.UpdateZone(ctxT(t), "live", api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &bad}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("negative pids: %v, want invalid", err)
	}
	if got := d.pidsLimit("live"); got != "64" {
		t.Errorf("after rejected update kernel pids limit %s, want 64", got)
	}
}

func TestStopSignalTimeoutAndForce(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	d.createStarted("slow", api.Resources{})
	// A shutdown script that hangs: the stop must give up after the
	// timeout and kill the zone.
	d.mustExec("slow", "sh", "-c", "printf '#!/bin/sh\\nsleep 600\\n' > /etc/rc.d/K01hang && chmod +x /etc/rc.d/K01hang")
	start := time.Now()
	z, err := d.c.StopZone(ctx, "slow", api.StopRequest{TimeoutSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(z.LastExit, "killed after") || z.State != api.StateStopped {
		t.Errorf("stop with hanging shutdown: state %s, last exit %q", z.State, z.LastExit)
	}
	if time.Since(start) < 2*time.Second {
		t.Errorf("stop returned before its 2s timeout")
	}
	if _, err := d.c.StartZone(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	z, err = d.c.StopZone(ctx, "slow", api.StopRequest{Force: true})
	if err != nil || z.LastExit != "killed (forced stop)" {
		t.Errorf("forced stop: %+v %v", z, err)
	}
	if _, err := d.c.StopZone(ctx, "slow", api.StopRequest{}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("stop of a stopped zone: %v, want conflict", err)
	}
}

func TestRebootAndPoweroffInsideZone(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	z := d.createStarted("rb", api.Resources{})
	oldPID := z.InitPID
	d.exec("rb", "", "reboot")
	waitFor(t, 20*time.Second, "zone to come back with a new init", func() bool {
		z, err := d.c.GetZone(ctx, "rb")
		return err == nil && z.State == api.StateRunning && z.InitPID != 0 && z.InitPID != oldPID
	})
	if out := d.mustExec("rb", "echo", "back"); strings.TrimSpace(out) != "back" {
		t.Errorf("rebooted zone unusable")
	}
	d.exec("rb", "", "poweroff")
	waitFor(t, 20*time.Second, "zone to be stopped after poweroff", func() bool {
		z, err := d.c.GetZone(ctx, "rb")
		return err == nil && z.State == api.StateStopped
	})
	z, _ = d.c.GetZone(ctx, "rb")
	if z.LastExit != "poweroff" {
		t.Errorf("last exit after poweroff = %q", z.LastExit)
	}
}

func TestZonesSurviveDaemonKill9(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	a := d.createStarted("k1", api.Resources{MemoryBytes: 64 << 20})
	b := d.createStarted("k2", api.Resources{})
	c := d.createStarted("k3", api.Resources{})
	d.kill9()
	for _, z := range []*api.Zone{a, b} {
		if err := syscall.Kill(z.InitPID, 0); err != nil {
			t.Fatalf("zone %s (pid %d) died with the daemon: %v", z.Name, z.InitPID, err)
		}
	}
	d.start()
	list, err := d.c.ListZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range list {
		if z.State != api.StateRunning {
			t.Errorf("after restart zone %s is %s", z.Name, z.State)
		}
	}
	if out := d.mustExec("k1", "hostname"); strings.TrimSpace(out) != "k1" {
		t.Errorf("exec after restart: %q", out)
	}
	mem := int64(96 << 20)
	if _, err := d.c.UpdateZone(ctx, "k1", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem}}); err != nil {
		t.Fatal(err)
	}
	if got := d.memoryLimit("k1"); got != mem {
		t.Errorf("set after restart: kernel limit %d", got)
	}
	// A reboot inside an adopted zone brings it back, as in a zone the
	// daemon started: the kernel still tells a non-parent how the init
	// ended (its zombie's stat, or pidfd exit information on 6.15+).
	release, exitInfo := kernelAtLeast(t, 6, 15)
	d.exec("k3", "", "reboot")
	rebooted := func() bool {
		z, err := d.c.GetZone(ctx, "k3")
		return err == nil && z.State == api.StateRunning && z.InitPID != 0 && z.InitPID != c.InitPID
	}
	if exitInfo {
		waitFor(t, 20*time.Second, "adopted zone k3 to come back after a reboot inside", rebooted)
	} else {
		waitFor(t, 20*time.Second, "adopted zone k3's init to end", func() bool { return !processAlive(c.InitPID) })
		z, _ := d.c.GetZone(ctx, "k3")
		t.Logf("kernel %s has no pidfd exit information (6.15+): after a reboot inside, adopted zone k3 is %s (%q)", release, z.State, z.LastExit)
	}
	// An adopted zone still stops properly.
	z, err := d.c.StopZone(ctx, "k2", api.StopRequest{TimeoutSeconds: 10})
	if err != nil || z.State != api.StateStopped {
		t.Fatalf("stop adopted zone: %+v %v", z, err)
	}
	if processAlive(b.InitPID) {
		t.Errorf("adopted zone's init %d alive after stop", b.InitPID)
	}
	if exitInfo && z.LastExit != "poweroff" {
		t.Errorf("graceful stop of an adopted zone ended with %q, want poweroff", z.LastExit)
	}
	// A zone that dies while no daemon runs is found stopped and freed.
	d.kill9()
	if err := syscall.Kill(a.InitPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "zone k1 to die", func() bool { return !processAlive(a.InitPID) })
	d.start()
	z, err = d.c.GetZone(ctx, "k1")
	if err != nil || z.State != api.StateStopped {
		t.Fatalf("zone killed while daemon down: %+v %v", z, err)
	}
	for _, dir := range cgroupDirs(d.cgroupParent + "/k1") {
		t.Errorf("cgroup %s of dead zone not freed", dir)
	}
}

func TestExecStdioAndExitCodes(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("ex", api.Resources{})
	r := d.exec("ex", "hello from stdin\n", "sh", "-c", "cat; echo to-stderr >&2; exit 3")
	if r.stdout != "hello from stdin\n" || r.stderr != "to-stderr\n" || r.code != 3 {
		t.Errorf("exec = %+v", r)
	}
	r = d.exec("ex", "", "sh", "-c", "kill -9 $$")
	if r.code != 137 {
		t.Errorf("killed command exit code %d, want 137", r.code)
	}
	_, err := d.c.Exec(ctxT(t), "ex", api.ExecRequest{Command: []string{"/no/such/command"}}, client.ExecOptions{})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "/no/such/command") {
		t.Errorf("exec of a missing command: %v, want invalid argument naming it", err)
	}
	// Large output arrives whole.
	out := d.mustExec("ex", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
	if len(out) != 3000000 {
		t.Errorf("got %d bytes of output, want 3000000", len(out))
	}
}

func TestZonectlEndToEnd(t *testing.T) {
	d := startDaemon(t)
	if _, stderr, code := d.zonectl("", "create", "cli1", "--template", "busybox", "--memory", "64M", "--pids", "50"); code != 0 {
		t.Fatalf("zonectl create: %d %s", code, stderr)
	}
	if _, stderr, code := d.zonectl("", "start", "cli1"); code != 0 {
		t.Fatalf("zonectl start: %d %s", code, stderr)
	}
	out, _, code := d.zonectl("", "list")
	if code != 0 || !strings.Contains(out, "cli1") || !strings.Contains(out, "running") {
		t.Errorf("zonectl list:\n%s", out)
	}
	out, _, code = d.zonectl("", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"name": "cli1"`) && !strings.Contains(out, `"name":"cli1"`) {
		t.Errorf("zonectl list -o json:\n%s", out)
	}
	out, stderr, code := d.zonectl("piped\n", "exec", "-i", "cli1", "--", "sh", "-c", "cat; exit 7")
	if code != 7 || out != "piped\n" {
		t.Errorf("zonectl exec: code %d out %q stderr %q", code, out, stderr)
	}
	_, stderr, code = d.zonectl("", "set", "cli1", "--memory", "32M")
	if code != 0 || d.memoryLimit("cli1") != 32<<20 {
		t.Errorf("zonectl set: %d %s", code, stderr)
	}
	_, stderr, code = d.zonectl("", "create", "Bad_Name")
	if code == 0 || !strings.Contains(stderr, "Bad_Name") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("bad name: code %d, stderr %q (want one line naming the name)", code, stderr)
	}
	_, stderr, code = d.zonectl("", "destroy", "cli1")
	if code == 0 || !strings.Contains(stderr, "running") {
		t.Errorf("destroy running without --force: code %d %q", code, stderr)
	}
	if _, stderr, code = d.zonectl("", "destroy", "--force", "cli1"); code != 0 {
		t.Errorf("destroy --force: %d %s", code, stderr)
	}
}

func TestCreateRollbackLeavesNothing(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	// A template without a working init: create succeeds (it is a
	// stopped zone), start fails, and the failed start leaves nothing.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "ok1", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	d.mustNotExist("nosuch", "template")
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "rb1", Template: "nosuch"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("create from missing template: %v, want not found", err)
	}
	if _, err := d.c.GetZone(ctx, "rb1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("failed create left a record: %v", err)
	}
	if _, err := os.Stat(d.dataDir + "/zones/rb1"); err == nil {
		t.Errorf("failed create left a directory")
	}
	// Break the zone's init in its own layer, then start: the start
	// fails with the reason and the zone is stopped with no cgroup.
	if err := os.Remove(d.dataDir + "/zones/ok1/upper/etc/hostname"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d.dataDir+"/zones/ok1/upper/sbin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/no/such/init", d.dataDir+"/zones/ok1/upper/sbin/init"); err != nil {
		t.Fatal(err)
	}
	_, err := d.c.StartZone(ctx, "ok1")
	if err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("start with broken init: %v", err)
	}
	z, err := d.c.GetZone(ctx, "ok1")
	if err != nil || z.State != api.StateStopped {
		t.Fatalf("after failed start: %+v %v", z, err)
	}
	if dirs := cgroupDirs(d.cgroupParent + "/ok1"); len(dirs) > 0 {
		t.Errorf("failed start left cgroups %v", dirs)
	}
}

func (d *daemon) mustNotExist(name, kind string) {
	d.t.Helper()
	if _, err := d.c.GetTemplate(ctxT(d.t), name); !errors.Is(err, errdefs.ErrNotFound) {
		d.t.Fatalf("%s %s exists: %v", kind, name, err)
	}
}

func (d *daemon) memoryLimit(zone string) int64 {
	d.t.Helper()
	s := ""
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil && !isUnified() {
		s = d.cgroupFile(zone, "memory", "memory.limit_in_bytes")
	} else {
		s = d.cgroupFile(zone, "", "memory.max")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.t.Fatalf("memory limit %q: %v", s, err)
	}
	return n
}

func (d *daemon) pidsLimit(zone string) string {
	return d.cgroupFile(zone, "pids", "pids.max")
}

func (d *daemon) oomKills(zone string) int {
	var s string
	if isUnified() {
		s = d.cgroupFile(zone, "", "memory.events")
	} else {
		s = d.cgroupFile(zone, "memory", "memory.oom_control")
	}
	n, _ := strconv.Atoi(field(s, "oom_kill"))
	return n
}

func isUnified() bool {
	var st syscall.Statfs_t
	return syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270
}

func execHost(name string, args ...string) error {
	p, err := os.StartProcess("/bin/"+name, append([]string{name}, args...), &os.ProcAttr{})
	if err != nil {
		return err
	}
	_, err = p.Wait()
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// field returns the value after key in "key value" lines.
func field(text, key string) string {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == key || f[0] == key+":") {
			return f[1]
		}
	}
	return ""
}

// bit reports whether bit n is set in a hex mask.
func bit(hexMask string, n uint) bool {
	v, err := strconv.ParseUint(hexMask, 16, 64)
	return err == nil && v&(1<<n) != 0
}

// processAlive reports whether pid runs; a zombie waiting for whoever
// adopted it (the host's init, for zones of a daemon that died) is dead.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// hostLoopDisk attaches a loop device holding content and returns its
// numbers; it is detached when the test ends.
func hostLoopDisk(t *testing.T, content string) (int, int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	disk := make([]byte, 1<<20) // whole 512-byte sectors
	copy(disk, content)
	if err := os.WriteFile(img, disk, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Skipf("cannot attach a loop device (CONFIG_BLK_DEV_LOOP): %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil {
		t.Fatalf("stat loop device %q: %v", dev, err)
	}
	// The host can read it: what the zone is denied is not denied to all.
	data, err := os.ReadFile(dev)
	if err != nil || !strings.HasPrefix(string(data), content) {
		t.Fatalf("host cannot read its own loop device %s: %v", dev, err)
	}
	return int(st.Rdev >> 8 & 0xfff), int(st.Rdev&0xff | st.Rdev>>12&0xfff00)
}
