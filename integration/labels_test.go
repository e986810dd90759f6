//go:build linux

package integration

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// TestLabels: labels set at create and by PATCH (API and zonectl), the
// list's ?label= filter (an AND), and bad labels refused naming the field.
func TestLabels(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	for name, labels := range map[string]map[string]string{
		"l1": {"customer": "c1", "plan": "pro"},
		"l2": {"customer": "c1", "plan": "basic"},
		"l3": {"customer": "c2"},
	} {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	z, err := d.c.GetZone(ctx, "l1")
	if err != nil || z.Labels["customer"] != "c1" || z.Labels["plan"] != "pro" {
		t.Fatalf("l1: %+v %v", z, err)
	}
	for _, c := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"customer": "c1"}, "l1,l2"},
		{map[string]string{"customer": "c1", "plan": "basic"}, "l2"},
		{map[string]string{"customer": "c2", "plan": "pro"}, ""},
		{map[string]string{"plan": ""}, ""},
	} {
		zones, _, err := d.c.ListZonesPage(ctx, api.ZoneListOptions{Labels: c.labels})
		if err != nil || names(zones) != c.want {
			t.Errorf("list %v = %q %v, want %q", c.labels, names(zones), err, c.want)
		}
	}

	// PATCH replaces; an empty map clears.
	if z, err = d.c.UpdateZone(ctx, "l3", api.ZonePatch{Labels: map[string]string{"customer": "c3"}}); err != nil || len(z.Labels) != 1 || z.Labels["customer"] != "c3" {
		t.Fatalf("patch l3: %+v %v", z, err)
	}
	if z, err = d.c.UpdateZone(ctx, "l3", api.ZonePatch{Labels: map[string]string{}}); err != nil || len(z.Labels) != 0 {
		t.Fatalf("clear l3's labels: %+v %v", z, err)
	}
	// A patch without labels leaves them.
	mem := int64(64 << 20)
	if z, err = d.c.UpdateZone(ctx, "l1", api.ZonePatch{Resources: &api.ResourcesPatch{MemoryBytes: &mem}}); err != nil || z.Labels["plan"] != "pro" {
		t.Fatalf("patch l1's memory: %+v %v", z, err)
	}

	// Bad labels change nothing and name the field.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "l4", Template: "busybox", Labels: map[string]string{"bad key": "v"}}); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "bad key") {
		t.Errorf("create with a bad label: %v", err)
	}
	if _, err := d.c.GetZone(ctx, "l4"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("zone created despite a bad label: %v", err)
	}
	if _, err := d.c.UpdateZone(ctx, "l1", api.ZonePatch{Labels: map[string]string{"k": "a\x00b"}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("patch with a bad label: %v", err)
	}
	for _, query := range []string{"label=novalue", "label=" + url.QueryEscape("bad key=1")} {
		d.expectBadList(t, query, "label")
	}

	// zonectl: create, set (add, change, remove), list.
	if _, stderr, code := d.zonectl("", "create", "l5", "--label", "customer=c9", "-l", "trial=yes"); code != 0 {
		t.Fatalf("zonectl create --label: exit %d: %s", code, stderr)
	}
	if _, stderr, code := d.zonectl("", "set", "l5", "--label", "plan=pro", "--label", "trial-"); code != 0 {
		t.Fatalf("zonectl set --label: exit %d: %s", code, stderr)
	}
	if z, err = d.c.GetZone(ctx, "l5"); err != nil || len(z.Labels) != 2 || z.Labels["customer"] != "c9" || z.Labels["plan"] != "pro" {
		t.Errorf("l5 after zonectl set: %v %v", z.Labels, err)
	}
	stdout, stderr, code := d.zonectl("", "list", "--label", "customer=c9", "-l", "plan=pro", "-o", "json")
	var listed []api.Zone
	if code != 0 || json.Unmarshal([]byte(stdout), &listed) != nil || names(listed) != "l5" {
		t.Errorf("zonectl list --label: exit %d, %q %s", code, stdout, stderr)
	}
	if _, stderr, code := d.zonectl("", "list", "--label", "nokey"); code == 0 || !strings.Contains(stderr, "KEY=VALUE") {
		t.Errorf("zonectl list --label nokey: exit %d: %s", code, stderr)
	}
}

// expectBadList checks that GET /v1/zones?query is refused with 400
// naming field.
func (d *daemon) expectBadList(t *testing.T, query, field string) {
	t.Helper()
	resp, err := d.rawHTTP().Get("http://zoned/v1/zones?" + query)
	if err != nil {
		t.Fatal(err)
	}
	var ae api.Error
	_ = json.NewDecoder(resp.Body).Decode(&ae)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || ae.Field != field || ae.Code != "invalid_argument" {
		t.Errorf("GET /v1/zones?%s: %s %+v, want 400 naming %s", query, resp.Status, ae, field)
	}
}
