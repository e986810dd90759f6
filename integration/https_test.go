//go:build linux

package integration

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/pki"
)

// remoteZonectl runs zonectl with its remotes kept in cfgDir.
func remoteZonectl(t *testing.T, cfgDir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(zonectlBin, args...)
	cmd.Env = append(os.Environ(), "ZONECTL_CONFIG="+cfgDir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// TestHTTPSRemoteEndToEnd drives a daemon over HTTPS as an operator on
// another machine would: a token made on the daemon enrols zonectl,
// which then creates, starts, enters and destroys a zone through the
// remote; the token enrols nobody twice; removing the client cuts its
// open event stream and refuses its next call.
func TestHTTPSRemoteEndToEnd(t *testing.T) {
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.HTTPSAddress == "" || pki.ValidFingerprint(info.ServerFingerprint) != nil {
		t.Fatalf("info over the socket: HTTPS %q, fingerprint %q", info.HTTPSAddress, info.ServerFingerprint)
	}
	if out, _, _ := d.zonectl("", "info"); !strings.Contains(out, info.ServerFingerprint) {
		t.Errorf("zonectl info does not show the server certificate:\n%s", out)
	}
	url := "https://" + info.HTTPSAddress
	cfg := t.TempDir()

	token, stderr, code := d.zonectl("", "trust", "add", "ops", "--expires", "5m")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "zoned1.") {
		t.Fatalf("trust add: %d %q %s", code, token, stderr)
	}
	if out, stderr, code := remoteZonectl(t, cfg, "remote", "add", "h1", url, "--token", token); code != 0 || !strings.Contains(out, info.ServerFingerprint) {
		t.Fatalf("remote add: %d\n%s%s", code, out, stderr)
	}
	// The token is spent: a second enrolment with it gets nothing.
	if _, _, code := remoteZonectl(t, cfg+"/other", "remote", "add", "h1", url, "--token", token); code == 0 {
		t.Fatal("a spent token enrolled a second client")
	}
	if strings.Contains(d.logs(), token) {
		t.Error("the daemon logged the token")
	}

	for _, args := range [][]string{
		{"--remote", "h1", "create", "rweb", "--template", "busybox"},
		{"start", "h1:rweb"},
	} {
		if out, stderr, code := remoteZonectl(t, cfg, args...); code != 0 {
			t.Fatalf("zonectl %v: %d\n%s%s", args, code, out, stderr)
		}
	}
	out, stderr, code := remoteZonectl(t, cfg, "exec", "h1:rweb", "--", "echo", "over:tls")
	if code != 0 || strings.TrimSpace(out) != "over:tls" {
		t.Fatalf("exec over HTTPS: %d %q %s", code, out, stderr)
	}
	if out, _, _ := remoteZonectl(t, cfg, "remote", "switch", "h1"); out != "" {
		t.Logf("switch: %s", out)
	}
	if out, _, code := remoteZonectl(t, cfg, "list"); code != 0 || !strings.Contains(out, "rweb") {
		t.Fatalf("list on the default remote: %d %s", code, out)
	}
	if out, stderr, code := remoteZonectl(t, cfg, "destroy", "--force", "rweb"); code != 0 {
		t.Fatalf("destroy over HTTPS: %d %s%s", code, out, stderr)
	}
	if !strings.Contains(d.logs(), "client=ops") {
		t.Errorf("audit lines do not name the HTTPS client:\n%s", d.logs())
	}

	// An open event stream of the client is cut when it is removed.
	keyPEM, err := os.ReadFile(cfg + "/client.key")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := os.ReadFile(cfg + "/remotes/h1.crt")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := client.NewRemote(url, certPEM, keyPEM, info.ServerFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	events, err := rc.Events(ctx, api.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, code := d.zonectl("", "trust", "remove", "ops"); code != 0 {
		t.Fatal("trust remove failed")
	}
	select {
	case _, open := <-events:
		for open {
			_, open = <-events
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the removed client's event stream stayed open")
	}
	if _, err := rc.ListZones(ctx); err == nil {
		t.Fatal("a removed client was answered")
	}
}

// TestHTTPSRefusesUntrustedAndScopes: a certificate the daemon does not
// trust gets the TLS alert and no HTTP at all; a read-only client reads
// and is refused writes and the trust store; the wrong server
// fingerprint is refused by the client.
func TestHTTPSRefusesUntrustedAndScopes(t *testing.T) {
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + info.HTTPSAddress

	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.SelfSigned(key, pki.Options{CommonName: "stranger", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", info.HTTPSAddress, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET /v1/info HTTP/1.1\r\nHost: zoned\r\n\r\n")
		answer, rerr := io.ReadAll(conn)
		conn.Close()
		if len(answer) > 0 || rerr == nil {
			t.Fatalf("an untrusted certificate got %q (err %v), want only the TLS alert", answer, rerr)
		}
	}
	if _, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "panel", Scope: api.ClientScope{MaxMemoryBytes: 1 << 30}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a cap without labels to count by: %v, want invalid", err)
	}
	if _, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "panel", Scope: api.ClientScope{Labels: map[string]string{"customer": ""}}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a scope label without a value (every zone matches): %v, want invalid", err)
	}

	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "reader", Scope: api.ClientScope{ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	rkey, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, rc, err := client.Enrol(ctx, url, tok.Token, rkey, "reader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ListZones(ctx); err != nil {
		t.Errorf("read-only client cannot read: %v", err)
	}
	if _, err := rc.CreateZone(ctx, api.CreateZoneRequest{Name: "nope"}); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("read-only client's create: %v, want permission denied", err)
	}
	if _, err := rc.ListTrustedClients(ctx); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("read-only client listed the trust store: %v", err)
	}
	if _, err := d.c.GetZone(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("refused create left zone nope: %v", err)
	}
	// The client pins the daemon: another fingerprint is refused.
	keyPEM, _ := pki.EncodeKey(rkey)
	wrong, err := client.NewRemote(url, certPEM, keyPEM, "sha256:"+strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Info(ctx); err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Errorf("wrong pinned fingerprint: %v", err)
	}
}

// TestScopedClientWalksEveryRoute: a panel confined to customer=c1 can
// reach another tenant's zone through no route. The walk takes every
// route from the daemon's own OpenAPI document (so a new route is
// walked without touching this test), fills its path with the other
// tenant's zone and operation, and checks that no answer is a success or
// a 5xx, and that no answer names the other zone; lists and streams are
// filtered. Its own zone it can create (the labels are forced on) and
// see; a privileged zone it cannot make.
func TestScopedClientWalksEveryRoute(t *testing.T) {
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "theirs", Template: "busybox", Labels: map[string]string{"customer": "c2"}}); err != nil {
		t.Fatal(err)
	}
	op, err := d.c.CreateSnapshot(ctx, "theirs", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.WaitOperation(ctx, op.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Running, so that it has stats and metrics a leak would show.
	if _, err := d.c.StartZone(ctx, "theirs"); err != nil {
		t.Fatal(err)
	}
	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "panel-c1", Scope: api.ClientScope{Labels: map[string]string{"customer": "c1"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, pc, err := client.Enrol(ctx, "https://"+info.HTTPSAddress, tok.Token, key, "panel-c1")
	if err != nil {
		t.Fatal(err)
	}

	// Its own zone: labels forced on, visible; no privileged zones.
	mine, err := pc.CreateZone(ctx, api.CreateZoneRequest{Name: "mine", Template: "busybox", Labels: map[string]string{"customer": "c2", "plan": "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if mine.Labels["customer"] != "c1" || mine.Labels["plan"] != "s" {
		t.Errorf("scoped create made labels %v, want customer=c1 forced and plan kept", mine.Labels)
	}
	if _, err := pc.CreateZone(ctx, api.CreateZoneRequest{Name: "root1", Template: "busybox", Privileged: true}); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("scoped privileged create: %v, want permission denied", err)
	}
	zones, err := pc.ListZones(ctx)
	if err != nil || len(zones) != 1 || zones[0].Name != "mine" {
		t.Errorf("scoped list: %v %v, want only mine", zones, err)
	}

	// The raw walk, over the client's own TLS.
	keyPEM, _ := pki.EncodeKey(key)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if pki.Fingerprint(cs.PeerCertificates[0].Raw) != info.ServerFingerprint {
				return errors.New("not our daemon")
			}
			return nil
		}}}}
	get := func(path string) (int, string) {
		resp, err := hc.Get("https://" + info.HTTPSAddress + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	status, doc := get("/v1/openapi.json")
	if status != 200 {
		t.Fatalf("openapi.json: %d", status)
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &spec); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{name}", "theirs", "{id}", op.ID, "{snap}", "s1", "{nic}", "eth0", "{port}", "8080", "{client}", "panel-c1")
	walked := 0
	for path, methods := range spec.Paths {
		for method := range methods {
			method = strings.ToUpper(method)
			if path == "/v1/events" {
				continue // a stream: checked below
			}
			target := fill.Replace(path)
			if strings.HasPrefix(path, "/v1/templates/") {
				target = strings.ReplaceAll(path, "{name}", "busybox")
			}
			url := "https://" + info.HTTPSAddress + target
			req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(`{"name":"x2"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			walked++
			listing := method == "GET" && (path == "/v1/zones" || path == "/v1/stats" || path == "/v1/operations" || path == "/v1/info" || path == "/v1/openapi.json" || path == "/metrics" || strings.HasPrefix(path, "/v1/templates"))
			switch {
			case method == "POST" && path == "/v1/zones":
				// Its own new zone, x2: allowed, with its labels.
				if resp.StatusCode != 201 || !strings.Contains(string(b), `"customer":"c1"`) {
					t.Errorf("scoped create: %d %s", resp.StatusCode, b)
				}
			case listing && resp.StatusCode != 200:
				t.Errorf("%s %s: %d %s, want 200", method, path, resp.StatusCode, b)
			case !listing && (resp.StatusCode < 400 || resp.StatusCode >= 500):
				t.Errorf("%s %s on another tenant's zone: %d %s", method, path, resp.StatusCode, b)
			}
			if path != "/v1/openapi.json" && strings.Contains(string(b), "theirs") && resp.StatusCode != 404 {
				t.Errorf("%s %s names the other tenant's zone: %d %s", method, path, resp.StatusCode, b)
			}
		}
	}
	if walked < 50 {
		t.Errorf("walked %d routes, fewer than the API has", walked)
	}
	// 404s for the other zone say what a missing zone's would.
	_, missing := get("/v1/zones/nosuchzone")
	_, hidden := get("/v1/zones/theirs")
	if strings.ReplaceAll(missing, "nosuchzone", "theirs") != hidden {
		t.Errorf("a hidden zone answers %q, a missing one %q: a tenant can tell them apart", hidden, missing)
	}
	if z, err := d.c.GetZone(ctx, "theirs"); err != nil || z.State != api.StateRunning {
		t.Errorf("the walk changed the other tenant's zone: %+v %v", z, err)
	}

	// Events: the scoped stream sees its own zone, never the other's.
	events, err := pc.Events(ctx, api.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.UpdateZone(ctx, "theirs", api.ZonePatch{Labels: map[string]string{"customer": "c2", "touched": "1"}}); err != nil {
		t.Fatal(err)
	}
	if err := pc.DestroyZone(ctx, "mine", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if e.Zone != "mine" {
				t.Errorf("scoped stream got %+v", e)
			}
			done = e.Zone == "mine" && e.Type == api.EventZoneDestroyed
		case <-deadline:
			t.Fatal("no destroyed event of the client's own zone")
		}
	}
}

// TestCappedClientStaysUnderItsCaps: a reseller capped at 256 MiB of
// memory for its zones creates, changes and clones zones until the cap
// refuses, and a zone without a limit is refused outright.
func TestCappedClientStaysUnderItsCaps(t *testing.T) {
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "capped", Scope: api.ClientScope{Labels: map[string]string{"customer": "c3"}, MaxMemoryBytes: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	_, pc, err := client.Enrol(ctx, "https://"+info.HTTPSAddress, tok.Token, key, "capped")
	if err != nil {
		t.Fatal(err)
	}
	// Another tenant's zones do not count against this client's cap.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "big", Template: "busybox", Resources: api.Resources{MemoryBytes: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	create := func(name string, mem int64) error {
		_, err := pc.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Resources: api.Resources{MemoryBytes: mem}})
		return err
	}
	for _, name := range []string{"c1", "c2"} {
		if err := create(name, 128<<20); err != nil {
			t.Fatalf("create %s under the cap: %v", name, err)
		}
	}
	if err := create("c3", 64<<20); !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "over its cap") {
		t.Errorf("create over the cap: %v", err)
	}
	if err := create("c4", 0); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("create without a memory limit under a cap: %v", err)
	}
	grow, shrink := int64(192<<20), int64(100<<20)
	if _, err := pc.UpdateZone(ctx, "c1", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &grow}}); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("growing over the cap: %v", err)
	}
	if _, err := pc.UpdateZone(ctx, "c1", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &shrink}}); err != nil {
		t.Errorf("shrinking: %v", err)
	}
	if _, err := pc.CloneZone(ctx, "c1", api.CloneZoneRequest{Name: "c1b"}); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("a clone over the cap: %v", err)
	}
	zones, err := pc.ListZones(ctx)
	if err != nil || len(zones) != 2 {
		t.Errorf("the capped client's zones: %v %v, want c1 and c2", names(zones), err)
	}
}

// TestHTTPSFromAnotherHost: the daemon runs in a network namespace of the
// test's own, standing for a host; zonectl runs in another, standing for
// an operator's machine, linked to it by a veth pair. Enrolment and
// commands cross that link only.
func TestHTTPSFromAnotherHost(t *testing.T) {
	requireRoot(t)
	host, laptop := netnsFor(t), netnsFor(t)
	link(t, host, "up0", "192.0.2.1/24", laptop, "op0", "192.0.2.2/24")
	d := startDaemonWith(t, []string{"-https-address", "192.0.2.1:8443"}, func(d *daemon) {
		d.wrap = []string{"nsenter", "--net=/run/netns/" + host, "--"}
	})
	token, stderr, code := d.zonectl("", "trust", "add", "laptop")
	if code != 0 {
		t.Fatalf("trust add: %s", stderr)
	}
	cfg := t.TempDir()
	onLaptop := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + laptop, "--", zonectlBin}, args...)...)
		cmd.Env = append(os.Environ(), "ZONECTL_CONFIG="+cfg)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), errb.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), 0
	}
	if out, stderr, code := onLaptop("remote", "add", "h2", "https://192.0.2.1:8443", "--token", strings.TrimSpace(token)); code != 0 {
		t.Fatalf("remote add across the link: %d %s%s", code, out, stderr)
	}
	if out, stderr, code := onLaptop("create", "h2:far1", "--template", "busybox"); code != 0 {
		t.Fatalf("create across the link: %d %s%s", code, out, stderr)
	}
	out, _, code := onLaptop("--remote", "h2", "list")
	if code != 0 || !strings.Contains(out, "far1") {
		t.Fatalf("list across the link: %d %s", code, out)
	}
	// The daemon is not on the laptop's loopback: only the link reaches it.
	if _, _, code := onLaptop("--remote", "local", "--socket", "/nonexistent.sock", "list"); code == 0 {
		t.Error("the laptop reached a daemon without the remote")
	}
	if out, stderr, code := onLaptop("destroy", "h2:far1"); code != 0 {
		t.Fatalf("destroy across the link: %d %s%s", code, out, stderr)
	}
}

// TestHandshakeFloodDoesNotStarveTheSocket: 1,000 TLS handshakes at once
// from a load generator on loopback (certificates the daemon does not
// trust, which cost it a signature check each) while an operator uses the
// socket: every socket call is answered, and a trusted client is served
// after the flood. Nothing here is timed beyond the test's deadline.
func TestHandshakeFloodDoesNotStarveTheSocket(t *testing.T) {
	d := startDaemonWith(t, []string{"-https-address", "127.0.0.1:0"})
	ctx := ctxT(t)
	info, err := d.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.SelfSigned(key, pki.Options{CommonName: "flood", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	const flood = 1000
	var wg sync.WaitGroup
	var accepted atomic.Int32
	start := make(chan struct{})
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", info.HTTPSAddress, cfg)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			fmt.Fprintf(c, "GET /v1/info HTTP/1.1\r\nHost: zoned\r\n\r\n")
			if n, _ := c.Read(make([]byte, 1)); n > 0 {
				accepted.Add(1)
			}
		}()
	}
	close(start)
	for i := range 20 {
		if _, err := d.c.ListZones(ctx); err != nil {
			t.Fatalf("socket call %d during the flood: %v", i, err)
		}
	}
	wg.Wait()
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d untrusted handshakes got an answer", n)
	}
	if n := strings.Count(d.logs(), "TLS client refused"); n > 100 {
		t.Errorf("%d log lines for %d refused handshakes: the log is flooded too", n, flood)
	}
	tok, err := d.c.CreateTrustToken(ctx, api.CreateTokenRequest{Name: "after"})
	if err != nil {
		t.Fatal(err)
	}
	rkey, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Enrol(ctx, "https://"+info.HTTPSAddress, tok.Token, rkey, "after"); err != nil {
		t.Errorf("a trusted client after the flood: %v", err)
	}
}
