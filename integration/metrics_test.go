//go:build linux

package integration

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// scrape reads /metrics into "name{labels}" -> value.
func (d *daemon) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := d.rawHTTP().Get("http://zoned/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsShowZonesAndRequests(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	d.createStarted("met1", api.Resources{MemoryBytes: 64 << 20, PidsMax: 100})
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "met2", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.GetZone(ctx, "nosuchzone"); err == nil {
		t.Fatal("GET of a missing zone succeeded")
	}
	d.mustExec("met1", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	m := d.scrape(t)

	if got := m[`zoned_zone_memory_limit_bytes{zone="met1"}`]; got != 64<<20 {
		t.Errorf("memory limit of met1 = %v, want %d", got, 64<<20)
	}
	if got := m[`zoned_zone_memory_bytes{zone="met1"}`]; got <= 0 {
		t.Errorf("memory of met1 = %v", got)
	}
	if got := m[`zoned_zone_processes{zone="met1"}`]; got < 1 {
		t.Errorf("processes of met1 = %v", got)
	}
	if got := m[`zoned_zone_cpu_seconds_total{zone="met1"}`]; got <= 0 {
		t.Errorf("cpu seconds of met1 = %v", got)
	}
	if _, ok := m[`zoned_zone_memory_bytes{zone="met2"}`]; ok {
		t.Error("stopped zone met2 has usage metrics")
	}
	if m[`zoned_zones{state="running"}`] != 1 || m[`zoned_zones{state="stopped"}`] != 1 {
		t.Errorf("zones by state: running %v stopped %v", m[`zoned_zones{state="running"}`], m[`zoned_zones{state="stopped"}`])
	}
	if m["zoned_goroutines"] < 1 {
		t.Errorf("goroutines = %v", m["zoned_goroutines"])
	}
	if m[`zoned_api_requests_total{method="POST",code="201"}`] != 2 || m[`zoned_api_requests_total{method="GET",code="404"}`] < 1 {
		t.Errorf("request counts: POST 201 %v, GET 404 %v", m[`zoned_api_requests_total{method="POST",code="201"}`], m[`zoned_api_requests_total{method="GET",code="404"}`])
	}
}

// freeTCPAddress returns a loopback address with a port free right now.
func freeTCPAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestMetricsOnTCPAndDaemonFigures: with -metrics-address the daemon
// serves /metrics, and nothing else of the API, on TCP; the daemon's own
// figures (operations by status, request latency per route, goroutines)
// are in it.
func TestMetricsOnTCPAndDaemonFigures(t *testing.T) {
	addr := freeTCPAddress(t)
	d := startDaemonWith(t, []string{"-metrics-address", addr})
	ctx := ctxT(t)
	op, err := d.c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: "mt" + randomSuffix(), From: "builtin"})
	if err != nil {
		t.Fatal(err)
	}
	if op, err = d.c.WaitOperation(ctx, op.ID, 2*time.Minute); err != nil || op.Status != api.OperationSuccess {
		t.Fatalf("build: %+v %v", op, err)
	}
	t.Cleanup(func() { _ = d.c.DeleteTemplate(context.Background(), op.Target) })
	for range 3 {
		if _, err := d.c.ListZones(ctx); err != nil {
			t.Fatal(err)
		}
	}

	get := func(path string) (*http.Response, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s on %s: %v", path, addr, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/metrics")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics on TCP: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`zoned_operations{kind="template-create",status="success"} 1`,
		`zoned_operations{kind="",status="failure"} 0`,
		`zoned_api_request_duration_seconds_count{route="GET /v1/zones"} 3`,
		`zoned_api_request_duration_seconds_bucket{route="GET /v1/zones",le="+Inf"} 3`,
		"zoned_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("TCP /metrics lacks %q:\n%s", want, body)
		}
	}
	// Nothing of the API is served there.
	for _, path := range []string{"/v1/zones", "/v1/info", "/v1/openapi.json"} {
		if resp, _ := get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the metrics address: %s, want 404", path, resp.Status)
		}
	}
	resp, err = http.Post("http://"+addr+"/v1/host/shutdown", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /v1/host/shutdown on the metrics address: %s, want 404", resp.Status)
	}
	// The socket serves the same figures.
	if m := d.scrape(t); m[`zoned_operations{kind="template-create",status="success"}`] != 1 {
		t.Errorf("socket /metrics lacks the operation")
	}
}
