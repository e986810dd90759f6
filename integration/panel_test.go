//go:build linux

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/pki"
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

// TestPythonPanelExampleOverHTTPS runs the same panel from "another
// machine": over HTTPS with a client certificate enrolled by token and
// the daemon's fingerprint pinned, confined to customer=c1042 as a
// reseller's panel would be, so its label filter sees its own zone only.
func TestPythonPanelExampleOverHTTPS(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed (hack/setup.sh installs it)")
	}
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "other", Template: "busybox", Labels: map[string]string{"customer": "c9"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "pypanel", Scope: api.ClientScope{Labels: map[string]string{"customer": "c1042"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + info.HTTPSAddress
	certPEM, _, err := client.Enrol(ctx, url, tok.Token, key, "pypanel")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "panel.crt"), filepath.Join(dir, "panel.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	zone := "panel" + randomSuffix()
	cmd := exec.Command(py, "../docs/examples/panel.py", "--url", url, "--cert", certFile, "--key", keyFile,
		"--fingerprint", info.ServerFingerprint, "--zone", zone)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("panel.py over HTTPS: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{
		"created " + zone + ": stopped",
		"event: zone-started running",
		"stale write refused as it must be: 412 precondition_failed",
		"zones of customer c1042: ['" + zone + "']",
		"destroyed " + zone,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("panel.py output lacks %q:\n%s", want, out.String())
		}
	}
	// A wrong pin: the panel refuses the daemon before sending anything.
	cmd = exec.Command(py, "../docs/examples/panel.py", "--url", url, "--cert", certFile, "--key", keyFile,
		"--fingerprint", "sha256:"+strings.Repeat("ab", 32), "--zone", zone)
	errb.Reset()
	cmd.Stderr = &errb
	if err := cmd.Run(); err == nil || !strings.Contains(errb.String(), "is not the pinned") {
		t.Errorf("panel.py with a wrong pin: %v %s", err, errb.String())
	}
}
