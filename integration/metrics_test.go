package integration

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

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
