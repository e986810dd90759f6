//go:build linux

package install

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnitPointsAtPrefix(t *testing.T) {
	for _, u := range units {
		data, err := Unit(u, "/opt/z/bin")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("/usr/local/bin")) {
			t.Errorf("%s still names /usr/local/bin:\n%s", u, data)
		}
	}
	svc, _ := Unit("zoned.service", "/opt/z/bin")
	for _, want := range []string{"ExecStart=/opt/z/bin/zoned $ZONED_OPTS\n", "Type=notify\n", "Delegate=yes\n", "KillMode=process\n", "WatchdogSec="} {
		if !bytes.Contains(svc, []byte(want)) {
			t.Errorf("zoned.service lacks %q", want)
		}
	}
	stop, _ := Unit("zoned-shutdown.service", "/opt/z/bin")
	if !bytes.Contains(stop, []byte("ExecStop=/opt/z/bin/zoned shutdown --only-at-host-shutdown\n")) {
		t.Errorf("zoned-shutdown.service does not run zoned shutdown:\n%s", stop)
	}
	// Restarting zoned must not stop zoned-shutdown.service (it would
	// stop the zones): no dependency that propagates stops.
	for _, dep := range []string{"Requires=", "BindsTo=", "PartOf="} {
		if bytes.Contains(stop, []byte("\n"+dep)) {
			t.Errorf("zoned-shutdown.service has %s", dep)
		}
	}
	sock, _ := Unit("zoned.socket", "/opt/z/bin")
	for _, want := range []string{"ListenStream=/run/zoned/zoned.sock\n", "SocketMode=0660\n", "SocketGroup=zoned\n"} {
		if !bytes.Contains(sock, []byte(want)) {
			t.Errorf("zoned.socket lacks %q", want)
		}
	}
}

// TestInstallUninstallFiles installs into temporary directories without
// systemd and takes it off again.
func TestInstallUninstallFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: install creates the system group zoned")
	}
	if _, err := exec.LookPath("groupadd"); err != nil {
		t.Skip("no groupadd (package passwd)")
	}
	_, groupErr := user.LookupGroup(Group)
	src := t.TempDir()
	for _, b := range []string{"zoned", "zonectl"} {
		if err := os.WriteFile(filepath.Join(src, b), []byte("#!/bin/sh\necho "+b+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	prefix, unitDir := t.TempDir(), t.TempDir()
	no := false
	var out bytes.Buffer
	o := Options{Prefix: prefix, UnitDir: unitDir, Zoned: filepath.Join(src, "zoned"), Systemd: &no, Out: &out}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if groupErr != nil {
		// We made the group: remove it whatever happens next.
		t.Cleanup(func() { _ = exec.Command("groupdel", Group).Run() })
	}
	for _, b := range []string{"zoned", "zonectl"} {
		st, err := os.Stat(filepath.Join(prefix, "bin", b))
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("binary %s: %v %v", b, st, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(unitDir, "zoned.service"))
	if err != nil || !strings.Contains(string(data), "ExecStart="+prefix+"/bin/zoned $ZONED_OPTS\n") {
		t.Errorf("zoned.service: %v\n%s", err, data)
	}
	if _, err := user.LookupGroup(Group); err != nil {
		t.Errorf("group %s not created: %v", Group, err)
	}
	if !strings.Contains(out.String(), "systemd is not PID 1") {
		t.Errorf("install did not say it left systemd alone:\n%s", out.String())
	}
	dataDir := t.TempDir()
	if err := Uninstall(context.Background(), UninstallOptions{Options: o, DataDir: dataDir, Socket: filepath.Join(dataDir, "none.sock")}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(prefix, "bin"), unitDir} {
		if e, _ := os.ReadDir(dir); len(e) != 0 {
			t.Errorf("uninstall left %v in %s", e, dir)
		}
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Errorf("uninstall without --purge removed the data directory: %v", err)
	}
}
