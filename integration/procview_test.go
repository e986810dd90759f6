//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// viewPID is the PID of the daemon's /proc view server, 0 if none.
func (d *daemon) viewPID() int {
	b, err := os.ReadFile(filepath.Join(d.dataDir, "procview", "viewfs.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (d *daemon) meminfoKB(zone, key string) int64 {
	d.t.Helper()
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(field(d.mustExec(zone, "cat", "/proc/meminfo"), key)), " kB"), 10, 64)
	if err != nil {
		d.t.Fatalf("%s in the zone's /proc/meminfo: %v", key, err)
	}
	return n
}

func TestProcViewShowsZoneLimits(t *testing.T) {
	d := startDaemon(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse (CONFIG_FUSE_FS)")
	}
	d.createStarted("v1", api.Resources{MemoryBytes: 256 << 20, SwapBytes: 64 << 20, CPUs: "0"})
	z, err := d.c.GetZone(ctxT(t), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if len(z.Warnings) > 0 {
		t.Fatalf("zone has warnings: %v\n%s", z.Warnings, d.logs())
	}
	// /proc/meminfo, which procps' free and top read, shows the limits.
	if got := d.meminfoKB("v1", "MemTotal"); got != 262144 {
		t.Errorf("MemTotal in a zone with 256M = %d kB", got)
	}
	if got := d.meminfoKB("v1", "SwapTotal"); got != 65536 {
		t.Errorf("SwapTotal in a zone with 64M swap = %d kB", got)
	}
	if avail := d.meminfoKB("v1", "MemAvailable"); avail <= 0 || avail > 262144 {
		t.Errorf("MemAvailable in a zone with 256M = %d kB", avail)
	}
	// busybox free takes its totals from sysinfo(2), which the view
	// server answers for the zone (a seccomp notification), and its
	// "available" column from /proc/meminfo.
	checkFree(t, "a 256M zone", d.mustExec("v1", "free"), 262144)
	if up := strings.TrimSpace(d.mustExec("v1", "cat", "/proc/uptime")); up == "" {
		t.Error("no /proc/uptime")
	}
	if got := strings.TrimSpace(d.mustExec("v1", "nproc")); got != "1" {
		t.Errorf("nproc with --cpus 0 = %q", got)
	}
	if got := strings.TrimSpace(d.mustExec("v1", "cat", "/sys/devices/system/cpu/online")); got != "0" {
		t.Errorf("cpu/online with --cpus 0 = %q", got)
	}
	if n := strings.Count(d.mustExec("v1", "cat", "/proc/cpuinfo"), "processor\t:"); n != 1 {
		t.Errorf("/proc/cpuinfo with --cpus 0 lists %d processors", n)
	}
	up, err := strconv.ParseFloat(strings.Fields(d.mustExec("v1", "cat", "/proc/uptime"))[0], 64)
	if err != nil || up > 120 {
		t.Errorf("/proc/uptime of a fresh zone = %v (%v), want seconds", up, err)
	}
	// An idle zone's load is near 0 through both ways of reading it: the
	// reader itself, running only to read, is not counted.
	for i := 0; i < 5; i++ {
		f := strings.Fields(d.mustExec("v1", "cat", "/proc/loadavg"))
		if len(f) != 5 {
			t.Fatalf("/proc/loadavg = %q", f)
		}
		if l, err := strconv.ParseFloat(f[0], 64); err != nil || l >= 0.5 {
			t.Errorf("/proc/loadavg of an idle zone = %q", f)
		}
		_, avg, _ := strings.Cut(d.mustExec("v1", "uptime"), "load average: ")
		if l, err := strconv.ParseFloat(strings.TrimSpace(strings.Split(avg, ",")[0]), 64); err != nil || l >= 0.5 {
			t.Errorf("uptime (sysinfo) of an idle zone says load average: %q", avg)
		}
	}
	// Rendered files change length (loadavg's last PID gains digits as
	// the zone forks): busybox cat reads them with sendfile(2), which the
	// kernel bounds by the size it last heard, so each open must tell it
	// the new one or the file is cut (no newline, the PID short).
	out := d.mustExec("v1", "sh", "-c", "i=0; while [ $i -lt 120 ]; do /bin/true; i=$((i+1)); done; cat /proc/loadavg")
	if f := strings.Fields(out); !strings.HasSuffix(out, "\n") || len(f) != 5 || len(f[4]) < 2 {
		t.Errorf("/proc/loadavg read by cat after 120 forks = %q, want 5 fields, a last PID of 2 digits or more and a newline", out)
	}
	if !strings.HasPrefix(d.mustExec("v1", "head", "-1", "/proc/stat"), "cpu ") {
		t.Errorf("/proc/stat does not start with the cpu line")
	}

	// A CPU cap of half a CPU shows one CPU, to nproc too, which asks
	// sched_getaffinity(2) (also answered by the view server).
	d.createStarted("v2", api.Resources{CPULimitPercent: 50})
	if got := strings.TrimSpace(d.mustExec("v2", "cat", "/sys/devices/system/cpu/online")); got != "0" {
		t.Errorf("cpu/online with --cpu-limit 50%% = %q", got)
	}
	if got := strings.TrimSpace(d.mustExec("v2", "nproc")); got != "1" {
		t.Errorf("nproc with --cpu-limit 50%% on a host with %d CPUs = %q", runtime.NumCPU(), got)
	}
	// Without a memory limit sysinfo(2) is the host's: free's total is
	// the host's MemTotal.
	hostMeminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	hostTotal, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(field(string(hostMeminfo), "MemTotal")), " kB"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	checkFree(t, "a zone without a memory limit", d.mustExec("v2", "free"), hostTotal)

	// The view is no child of the daemon: kill -9 the daemon and the
	// zone still reads its own limits, then a live set shows at once.
	pid := d.viewPID()
	if pid <= 0 || !processAlive(pid) {
		t.Fatalf("no view server running (pid %d)", pid)
	}
	d.kill9()
	// Read through the zone init's root, in the zone's mounts: no daemon
	// is there to exec.
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/proc/meminfo", z.InitPID))
	if err != nil || strings.TrimSpace(field(string(data), "MemTotal")) != "262144" {
		t.Errorf("MemTotal while the daemon is down: %q, %v", field(string(data), "MemTotal"), err)
	}
	d.start()
	if got := d.viewPID(); got != pid {
		t.Errorf("daemon restart replaced the view server %d with %d", pid, got)
	}
	if _, _, code := d.zonectl("", "set", "v1", "--memory", "128M"); code != 0 {
		t.Fatal("zonectl set --memory 128M failed")
	}
	if got := d.meminfoKB("v1", "MemTotal"); got != 131072 {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/root/proc/meminfo", z.InitPID))
		t.Errorf("MemTotal after set --memory 128M = %d kB (kernel limit %d, host-side read %q)", got, d.memoryLimit("v1"), field(string(data), "MemTotal"))
	}

	// Processes of the zone's init (not only commands exec'd into it)
	// get the zone's sysinfo: a boot script writes free's answer, and
	// the restarted zone has the limit set live above.
	script := "#!/bin/sh\n[ \"$1\" = start ] && free > /boot-free\n"
	if _, _, code := d.zonectl(script, "exec", "-i", "v1", "--", "sh", "-c", "cat > /etc/rc.d/S50free && chmod +x /etc/rc.d/S50free"); code != 0 {
		t.Fatal("writing a boot script into the zone failed")
	}
	if _, err := d.c.RestartZone(ctxT(t), "v1", api.StopRequest{Force: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10e9, "the boot script to run", func() bool { return d.exec("v1", "", "test", "-s", "/boot-free").code == 0 })
	checkFree(t, "the boot script of a 128M zone", d.mustExec("v1", "cat", "/boot-free"), 131072)

	// The last zone gone, the view server ends and leaves no mount.
	for _, n := range []string{"v1", "v2"} {
		if err := d.c.DestroyZone(ctxT(t), n, true); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 15e9, "view server to exit", func() bool { return !processAlive(pid) })
	if err := checkNoMountsUnder(d.dataDir); err != nil {
		t.Error(err)
	}
}

// checkFree checks that busybox free's output shows a total of total kB
// and an available column within it.
func checkFree(t *testing.T, what, free string, total int64) {
	t.Helper()
	for _, line := range strings.Split(free, "\n") {
		if f := strings.Fields(line); len(f) == 7 && f[0] == "Mem:" {
			if got, _ := strconv.ParseInt(f[1], 10, 64); got != total {
				t.Errorf("busybox free's total in %s = %s kB, want %d:\n%s", what, f[1], total, free)
			}
			if avail, _ := strconv.ParseInt(f[6], 10, 64); avail <= 0 || avail > total {
				t.Errorf("busybox free's available column in %s = %s:\n%s", what, f[6], free)
			}
			return
		}
	}
	t.Errorf("no Mem: line in free's output in %s:\n%s", what, free)
}

// viewServerPID is the PID of the view server of this test's daemon: the
// one process in the daemon's own "_viewfs" cgroup, checked to be a
// `zoned viewfs` of the test's data directory (never another process).
func (d *daemon) viewServerPID() int {
	d.t.Helper()
	dirs := cgroupDirs(d.cgroupParent + "/_viewfs")
	if len(dirs) == 0 {
		d.t.Fatalf("no _viewfs cgroup under %s", d.cgroupParent)
	}
	var pids []int
	for _, f := range strings.Fields(readFileT(d.t, filepath.Join(dirs[0], "cgroup.procs"))) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			d.t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 1 {
		d.t.Fatalf("the _viewfs cgroup holds %v, want one view server", pids)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0]))
	if err != nil || !strings.Contains(string(cmdline), "\x00viewfs\x00") || !strings.Contains(string(cmdline), d.dataDir) {
		d.t.Fatalf("process %d in the _viewfs cgroup is not this test's view server: %q (%v)", pids[0], cmdline, err)
	}
	return pids[0]
}

func readFileT(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// viewMounts counts the mounts on the view's mount point in the host's
// mount table.
func (d *daemon) viewMounts() int {
	n := 0
	mnt := filepath.Join(d.dataDir, "procview", "mnt")
	for _, line := range strings.Split(readFileT(d.t, "/proc/self/mountinfo"), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
			n++
		}
	}
	return n
}

// TestProcViewComesBackAfterServerKill: a view server killed with -9 is
// noticed and replaced, running zones read their view again, new zones
// get it; and a daemon that starts while the server is dead cleans what
// it left (group, dead mount) and brings the view back.
func TestProcViewComesBackAfterServerKill(t *testing.T) {
	d := startDaemon(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse (CONFIG_FUSE_FS)")
	}
	d.createStarted("k1", api.Resources{MemoryBytes: 256 << 20})
	if got := d.meminfoKB("k1", "MemTotal"); got != 262144 {
		t.Fatalf("MemTotal in a 256M zone = %d kB", got)
	}
	events, err := d.c.Events(ctxT(t), api.EventFilter{Types: []string{api.EventViewRestarted}})
	if err != nil {
		t.Fatal(err)
	}
	pid := d.viewServerPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var last execResult
	ok := false
	for i := 0; i < 300 && !ok; i++ {
		last = d.exec("k1", "", "cat", "/proc/meminfo")
		ok = last.code == 0 && strings.TrimSpace(field(last.stdout, "MemTotal")) == "262144"
		if !ok {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !ok {
		z, _ := d.c.GetZone(ctxT(t), "k1")
		mi, _ := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", z.InitPID))
		t.Fatalf("the running zone's /proc/meminfo did not read again after the view server was killed: %d %q %q\nzone's mounts:\n%s", last.code, last.stdout, last.stderr, mi)
	}
	for _, f := range []string{"/proc/stat", "/proc/uptime", "/proc/cpuinfo", "/proc/loadavg"} {
		if r := d.exec("k1", "", "cat", f); r.code != 0 {
			t.Errorf("cat %s in the running zone after the view server was killed: %s", f, r.stderr)
		}
	}
	select {
	case e := <-events:
		if !strings.Contains(e.Message, strconv.Itoa(pid)) {
			t.Errorf("view-restarted event does not name the dead server %d: %q", pid, e.Message)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("no %s event after the view server was killed", api.EventViewRestarted)
	}
	if !strings.Contains(d.logs(), "the /proc view server died") {
		t.Errorf("the daemon did not log the view server's death")
	}
	// A command started now hands its seccomp listener to the new
	// server: busybox free's sysinfo(2) is the zone's again.
	checkFree(t, "a command exec'd after the view server was replaced", d.mustExec("k1", "free"), 262144)
	// loadavg's last PID is the zone's: sh and the cat it starts are the
	// newest tasks, numbered in the zone's PID namespace.
	out := strings.Fields(d.mustExec("k1", "sh", "-c", "echo $$; cat /proc/loadavg"))
	if len(out) != 6 {
		t.Fatalf("sh's PID and /proc/loadavg in the zone: %q", out)
	}
	sh, _ := strconv.Atoi(out[0])
	lastPID, _ := strconv.Atoi(out[5])
	if lastPID < sh || lastPID > sh+5 {
		t.Errorf("/proc/loadavg's last PID %d in a zone whose newest sh is %d, want the cat sh started", lastPID, sh)
	}
	if again := d.viewServerPID(); again == pid {
		t.Errorf("the view server %d was not replaced", pid)
	}
	// A zone started now gets the view, no warning.
	z := d.createStarted("k2", api.Resources{MemoryBytes: 128 << 20})
	if len(z.Warnings) > 0 {
		t.Errorf("zone started after a view kill has warnings: %v", z.Warnings)
	}
	if got := d.meminfoKB("k2", "MemTotal"); got != 131072 {
		t.Errorf("MemTotal in a 128M zone started after a view kill = %d kB", got)
	}
	if n := d.viewMounts(); n != 1 {
		t.Errorf("%d mounts on the view's mount point after a view kill, want 1", n)
	}
}

// TestProcViewComesBackAfterDaemonRestart: a view server that dies while
// no daemon runs leaves its group and a dead mount; the next daemon
// cleans them and brings the view back to the running zones.
func TestProcViewComesBackAfterDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse (CONFIG_FUSE_FS)")
	}
	d.createStarted("k1", api.Resources{MemoryBytes: 256 << 20})
	d.createStarted("k2", api.Resources{MemoryBytes: 128 << 20})
	d.stop()
	dead := d.viewServerPID()
	if err := syscall.Kill(dead, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10e9, "the killed view server to be gone", func() bool { return !processAlive(dead) })
	d.start()
	for zone, want := range map[string]int64{"k1": 262144, "k2": 131072} {
		r := d.exec(zone, "", "cat", "/proc/meminfo")
		if got := strings.TrimSpace(field(r.stdout, "MemTotal")); r.code != 0 || got != strconv.FormatInt(want, 10) {
			t.Errorf("/proc/meminfo in %s after a daemon restart with a dead view: MemTotal %q, %s", zone, got, r.stderr)
		}
	}
	if got := d.viewServerPID(); got == dead || !processAlive(got) {
		t.Errorf("the _viewfs group holds %d after the restart, the dead server was %d", got, dead)
	}
	if n := d.viewMounts(); n != 1 {
		t.Errorf("%d mounts on the view's mount point after a daemon restart with a dead view, want 1", n)
	}
	// A zone started now gets the view.
	d.createStarted("k3", api.Resources{MemoryBytes: 64 << 20})
	if got := d.meminfoKB("k3", "MemTotal"); got != 65536 {
		t.Errorf("MemTotal in a 64M zone started after a daemon restart with a dead view = %d kB", got)
	}

	// With no zone left, a server killed while no daemon runs leaves
	// nothing behind once the daemon has started and stopped again
	// (the harness's cleanup checks the group and the mount).
	for _, n := range []string{"k1", "k2", "k3"} {
		if err := d.c.DestroyZone(ctxT(t), n, true); err != nil {
			t.Fatal(err)
		}
	}
	pid := d.viewServerPID()
	d.kill9()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10e9, "the killed view server to be gone", func() bool { return !processAlive(pid) })
	d.start()
	if dirs := cgroupDirs(d.cgroupParent + "/_viewfs"); len(dirs) > 0 {
		t.Errorf("stale view cgroup after a daemon start with no zone: %v", dirs)
	}
	if n := d.viewMounts(); n != 0 {
		t.Errorf("%d stale mounts on the view's mount point after a daemon start with no zone", n)
	}
}
