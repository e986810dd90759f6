//go:build linux

package integration

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestPythonPanelExample runs docs/examples/panel.py, the control panel
// example in plain Python, against a real daemon: create, start with the
// events watched, If-Match, a label filter, stop and destroy.
func TestPythonPanelExample(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (hack/setup.sh installs it)")
	}
	d := startDaemon(t)
	zone := "panel" + randomSuffix()
	cmd := exec.Command(py, "../docs/examples/panel.py", "--socket", d.socket, "--zone", zone)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("panel.py: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{
		"created " + zone + ": stopped",
		"event: zone-started running",
		"memory limit now 268435456 bytes",
		"stale write refused as it must be: 412 precondition_failed",
		"zones of customer c1042: ['" + zone + "']",
		"event: zone-stopped",
		"destroyed " + zone,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("panel.py output lacks %q:\n%s", want, out.String())
		}
	}
	if zones, err := d.c.ListZones(ctxT(t)); err != nil || len(zones) != 0 {
		t.Errorf("zones after the panel destroyed its own: %v %v", names(zones), err)
	}
}
