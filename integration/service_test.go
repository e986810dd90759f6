//go:build linux

package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// zonedGroup returns the gid of the group "zoned", creating it (and
// removing it at the end of the test) when the host has none.
func zonedGroup(t *testing.T) uint32 {
	t.Helper()
	g, err := user.LookupGroup("zoned")
	if err != nil {
		if _, err := exec.LookPath("groupadd"); err != nil {
			t.Skip("no groupadd (package passwd) to create the group zoned")
		}
		if out, err := exec.Command("groupadd", "--system", "zoned").CombinedOutput(); err != nil {
			t.Fatalf("groupadd --system zoned: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("groupdel", "zoned").CombinedOutput(); err != nil {
				t.Errorf("groupdel zoned: %v: %s", err, out)
			}
		})
		if g, err = user.LookupGroup("zoned"); err != nil {
			t.Fatal(err)
		}
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(gid)
}

// TestServiceSocketOnlyForRootAndGroup runs zonectl as an ordinary user,
// who is refused with a clear message, and as that user in the group
// zoned, who is served; the daemon's audit line names the caller's uid.
func TestServiceSocketOnlyForRootAndGroup(t *testing.T) {
	requireRoot(t)
	gid := zonedGroup(t) // before the daemon: it gives the socket to the group
	d := startDaemon(t)
	st, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 || st.Sys().(*syscall.Stat_t).Gid != gid {
		t.Fatalf("socket %s: mode %v gid %d, want 0660 and group zoned (%d)", d.socket, st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid, gid)
	}
	// The test's data directory is private (0700); let others reach the
	// socket so that only the socket's own mode decides.
	if err := os.Chmod(d.dataDir, 0o711); err != nil {
		t.Fatal(err)
	}
	// A zonectl that nobody can execute: the test's build dir is private.
	binDir, err := os.MkdirTemp("", "zoned-it-svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(binDir, "zonectl")
	copyExecutable(t, zonectlBin, ctl)

	const nobody = 65534
	run := func(cred *syscall.Credential, args ...string) (string, int) {
		cmd := exec.Command(ctl, append([]string{"--socket", d.socket}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}

	out, code := run(&syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, "info")
	if code == 0 || !strings.Contains(out, "permission denied") || !strings.Contains(out, "root and its group") {
		t.Errorf("zonectl info as nobody: exit %d, output %q; want a refusal saying permission denied", code, out)
	}

	member := &syscall.Credential{Uid: nobody, Gid: gid, Groups: []uint32{}}
	out, code = run(member, "info")
	if code != 0 || !strings.Contains(out, "Version") {
		t.Errorf("zonectl info as nobody in group zoned: exit %d, output %q; want served", code, out)
	}
	// A change (refused for want of the zone) is audited with its caller.
	out, code = run(member, "stop", "no-such-zone")
	if code == 0 || !strings.Contains(out, "not found") {
		t.Errorf("zonectl stop no-such-zone: exit %d, output %q", code, out)
	}
	waitFor(t, 10*time.Second, "the audit line of the stop", func() bool {
		for _, line := range strings.Split(d.logs(), "\n") {
			if strings.Contains(line, "msg=audit") && strings.Contains(line, "path=/v1/zones/no-such-zone/stop") &&
				strings.Contains(line, "zone=no-such-zone") && strings.Contains(line, "uid=65534") &&
				strings.Contains(line, "status=404") && strings.Contains(line, "pid=") {
				return true
			}
		}
		return false
	})
}

func copyExecutable(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// simulateBoot makes the daemon's next start look like the first after a
// host boot: the boot marker names another boot.
func (d *daemon) simulateBoot() {
	d.t.Helper()
	if err := os.WriteFile(filepath.Join(d.dataDir, "boot_id"), []byte("00000000-0000-0000-0000-000000000000\n"), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// TestServiceAutostartPriorityOrder: after a (simulated) host boot, zones
// start highest priority first, the next group only after the first
// group's delay; a zone that cannot start is retried and reported; zones
// without autostart stay stopped; the boot is then marked as handled.
func TestServiceAutostartPriorityOrder(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	create := func(name string, autostart bool, prio, delay int) {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Autostart: autostart, AutostartPriority: prio, AutostartDelaySeconds: delay}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	create("as-high", true, 10, 2)
	create("as-low-a", true, 5, 0)
	create("as-low-b", true, 5, 0)
	create("as-broken", true, 1, 0)
	create("as-off", false, 100, 0)
	// set changes the order too.
	if _, out, code := d.zonectl("", "set", "as-low-b", "--autostart-priority", "5", "--autostart-delay", "0s"); code != 0 {
		t.Fatalf("zonectl set: %s", out)
	}
	d.stop()
	// A zone whose layer is gone cannot start, however often it is tried.
	if err := os.RemoveAll(filepath.Join(d.dataDir, "zones", "as-broken", "upper")); err != nil {
		t.Fatal(err)
	}
	d.simulateBoot()
	d.start()

	var zones map[string]api.Zone
	waitFor(t, 2*time.Minute, "autostart to finish", func() bool {
		list, err := d.c.ListZones(ctx)
		if err != nil {
			return false
		}
		zones = map[string]api.Zone{}
		for _, z := range list {
			zones[z.Name] = z
		}
		return zones["as-high"].State == api.StateRunning && zones["as-low-a"].State == api.StateRunning &&
			zones["as-low-b"].State == api.StateRunning && strings.HasPrefix(zones["as-broken"].LastExit, "autostart failed: ")
	})
	high := *zones["as-high"].StartedAt
	for _, n := range []string{"as-low-a", "as-low-b"} {
		// The lower group starts after the higher one and its 2 s delay.
		if s := *zones[n].StartedAt; s.Sub(high) < 2*time.Second {
			t.Errorf("%s started at %s, less than as-high's 2s delay after as-high (%s)", n, s, high)
		}
	}
	if z := zones["as-off"]; z.State != api.StateStopped {
		t.Errorf("as-off (no autostart) is %s", z.State)
	}
	if z := zones["as-broken"]; z.State != api.StateStopped {
		t.Errorf("as-broken is %s", z.State)
	}
	if n := strings.Count(d.logs(), `msg="autostart attempt failed" zone=as-broken`); n != 3 {
		t.Errorf("as-broken was tried %d times, want 3", n)
	}
	waitFor(t, 30*time.Second, "the boot marker", func() bool {
		got, _ := os.ReadFile(filepath.Join(d.dataDir, "boot_id"))
		now, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
		return len(now) > 0 && bytes.Equal(got, now)
	})
	// A plain daemon restart starts nothing more.
	if _, err := d.c.StopZone(ctx, "as-low-a", api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	d.stop()
	d.start()
	if z, err := d.c.GetZone(ctx, "as-low-a"); err != nil || z.State != api.StateStopped {
		t.Errorf("after a daemon restart without a boot, as-low-a is %v (%v)", z.State, err)
	}
}

// TestServiceHostShutdownOrder: a host shutdown stops zones lowest
// priority first, and leaves them stopped with autostart intact.
func TestServiceHostShutdownOrder(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	prio := map[string]int{"hs-db": 10, "hs-web-a": 1, "hs-web-b": 1}
	for name, p := range prio {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Autostart: true, AutostartPriority: p}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.c.StartZone(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	res, err := d.c.HostShutdown(ctx, api.HostShutdownRequest{TimeoutSeconds: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Zones) != 3 {
		t.Fatalf("host shutdown stopped %+v, want 3 zones", res.Zones)
	}
	if last := res.Zones[2]; last.Name != "hs-db" {
		t.Errorf("stop order %+v: hs-db (priority 10) must stop last", res.Zones)
	}
	for _, z := range res.Zones {
		if z.Error != "" || z.AutostartPriority != prio[z.Name] {
			t.Errorf("zone %+v", z)
		}
		if z.Name != "hs-db" && !z.StoppedAt.Before(res.Zones[2].StoppedAt) {
			t.Errorf("%s stopped at %s, not before hs-db (%s)", z.Name, z.StoppedAt, res.Zones[2].StoppedAt)
		}
		got, err := d.c.GetZone(ctx, z.Name)
		if err != nil || got.State != api.StateStopped || !got.Autostart {
			t.Errorf("after host shutdown %s: %+v %v; want stopped, autostart kept", z.Name, got, err)
		}
	}
	// zoned shutdown is the same call from the command line.
	if _, err := d.c.StartZone(ctx, "hs-db"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zonedBin, "shutdown", "--socket", d.socket, "--timeout", "20s").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "zone hs-db (priority 10) stopped") {
		t.Errorf("zoned shutdown: %v\n%s", err, out)
	}
}
