//go:build linux

package integration

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// TestDebianZoneBootsSystemd builds a bookworm template with debootstrap
// (cached by zoned between runs), boots a zone on it and waits for systemd
// as PID 1 to report the system running; then stops, reboots and powers it
// off the ways an operator and a guest would.
func TestDebianZoneBootsSystemd(t *testing.T) {
	if os.Getenv("ZONED_SKIP_DEBIAN") != "" {
		t.Skip("ZONED_SKIP_DEBIAN is set")
	}
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if out, err := exec.Command("apt-get", "install", "-y", "-qq", "debootstrap").CombinedOutput(); err != nil {
			t.Skipf("debootstrap is not installed and cannot be: %v %s", err, out)
		}
	}
	op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: "bookworm", From: "debootstrap", Suite: "bookworm", Include: []string{"systemd-sysv", "dbus"}})
	if err != nil {
		t.Fatal(err)
	}
	for op.Status == api.OperationRunning {
		if op, err = d.c.WaitOperation(ctx, op.ID, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if op.Status != api.OperationSuccess {
		t.Fatalf("template build failed: %+v", op.Err)
	}
	tmpl, err := d.c.GetTemplate(ctx, "bookworm")
	if err != nil || tmpl.Source != "debootstrap" {
		t.Fatalf("template: %+v %v", tmpl, err)
	}

	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "deb1", Template: "bookworm", Resources: api.Resources{MemoryBytes: 512 << 20}}); err != nil {
		t.Fatal(err)
	}
	z, err := d.c.StartZone(ctx, "deb1")
	if err != nil {
		t.Fatal(err)
	}
	waitRunning := func() {
		t.Helper()
		var state string
		deadline := time.Now().Add(bootTimeout())
		for time.Now().Before(deadline) {
			var out strings.Builder
			_, err := d.c.Exec(ctx, "deb1", api.ExecRequest{Command: []string{"systemctl", "is-system-running"}}, client.ExecOptions{Stdout: &out, Stderr: &out})
			state = strings.TrimSpace(out.String())
			if err == nil && (state == "running" || state == "degraded") {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if state != "running" {
			jobs := d.exec("deb1", "", "systemctl", "list-jobs", "--no-pager")
			t.Logf("pending jobs:\n%s", jobs.stdout)
			if rc, err := d.c.ConsoleLog(ctx, "deb1"); err == nil {
				var log strings.Builder
				_, _ = io.Copy(&log, rc)
				rc.Close()
				t.Logf("console:\n%s", log.String())
			}
			failed := d.exec("deb1", "", "systemctl", "--failed", "--no-pager")
			t.Fatalf("systemd says %q; failed units:\n%s", state, failed.stdout)
		}
	}
	waitRunning()
	if comm := strings.TrimSpace(d.mustExec("deb1", "cat", "/proc/1/comm")); comm != "systemd" {
		t.Errorf("PID 1 is %q, want systemd", comm)
	}
	if virt := d.exec("deb1", "", "systemd-detect-virt", "--container"); strings.TrimSpace(virt.stdout) == "none" {
		t.Errorf("systemd does not know it runs in a container")
	}
	// Each zone has its own machine-id, not the template's (empty) one.
	if id := strings.TrimSpace(d.mustExec("deb1", "cat", "/etc/machine-id")); len(id) != 32 {
		t.Errorf("machine-id %q", id)
	}

	// glibc sizes memory with sysinfo(2) (sysconf(_SC_PHYS_PAGES)), which
	// the /proc view answers with the zone's limit.
	pages, err1 := strconv.ParseInt(strings.TrimSpace(d.mustExec("deb1", "getconf", "_PHYS_PAGES")), 10, 64)
	pageSize, err2 := strconv.ParseInt(strings.TrimSpace(d.mustExec("deb1", "getconf", "PAGESIZE")), 10, 64)
	if err1 != nil || err2 != nil || pages*pageSize != 512<<20 {
		t.Errorf("getconf in a 512M zone: %d pages of %d bytes (%v, %v)", pages, pageSize, err1, err2)
	}

	// A reboot from inside brings the zone back with a new init.
	d.exec("deb1", "", "systemctl", "reboot")
	waitFor(t, 60*time.Second, "the zone to come back after reboot", func() bool {
		nz, err := d.c.GetZone(ctx, "deb1")
		return err == nil && nz.State == api.StateRunning && nz.InitPID != z.InitPID
	})
	waitRunning()

	// The operator's stop asks systemd (SIGRTMIN+3) and it powers off.
	z, err = d.c.StopZone(ctx, "deb1", api.StopRequest{TimeoutSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if z.LastExit != "poweroff" {
		t.Errorf("stop of a systemd zone ended with %q, want a clean poweroff", z.LastExit)
	}
}

// bootTimeout is how long systemd gets to reach running: a few seconds on
// real hardware, minutes under the lane's software emulation.
func bootTimeout() time.Duration {
	if os.Getenv("ZONED_LANE") != "" {
		return 6 * time.Minute
	}
	return 90 * time.Second
}
