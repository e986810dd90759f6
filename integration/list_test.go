//go:build linux

package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
)

func names(zones []api.Zone) string {
	var n []string
	for _, z := range zones {
		n = append(n, z.Name)
	}
	return strings.Join(n, ",")
}

func TestListFiltersAndPages(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	for _, n := range []string{"a3", "a1", "a2"} {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: n, Template: "busybox"}); err != nil {
			t.Fatal(err)
		}
	}
	d.createStarted("b1", api.Resources{})

	for _, c := range []struct {
		opts       api.ZoneListOptions
		want, next string
	}{
		{api.ZoneListOptions{}, "a1,a2,a3,b1", ""},
		{api.ZoneListOptions{State: api.StateRunning}, "b1", ""},
		{api.ZoneListOptions{State: api.StateStopped, Template: "busybox"}, "a1,a2,a3", ""},
		{api.ZoneListOptions{Template: "debian"}, "", ""},
		{api.ZoneListOptions{Limit: 2}, "a1,a2", "a2"},
		{api.ZoneListOptions{Limit: 2, After: "a2"}, "a3,b1", ""},
		{api.ZoneListOptions{Limit: 1, After: "a1", State: api.StateStopped}, "a2", "a2"},
		{api.ZoneListOptions{After: "b1"}, "", ""},
	} {
		zones, next, err := d.c.ListZonesPage(ctx, c.opts)
		if err != nil {
			t.Fatalf("list %+v: %v", c.opts, err)
		}
		if names(zones) != c.want || next != c.next {
			t.Errorf("list %+v = %q next %q, want %q next %q", c.opts, names(zones), next, c.want, c.next)
		}
		if c.opts.State == api.StateRunning && (len(zones) != 1 || zones[0].Usage == nil) {
			t.Errorf("running zone listed without usage: %+v", zones)
		}
	}

	for query, field := range map[string]string{
		"state=bogus":     "state",
		"limit=0":         "limit",
		"limit=many":      "limit",
		"limit=5000":      "limit",
		"after=..%2Fx":    "after",
		"template=Bad%2F": "template",
	} {
		d.expectBadList(t, query, field)
	}

	stdout, stderr, code := d.zonectl("", "list", "--state", "stopped", "--template", "busybox", "-o", "json")
	var listed []api.Zone
	if code != 0 || json.Unmarshal([]byte(stdout), &listed) != nil || names(listed) != "a1,a2,a3" {
		t.Fatalf("zonectl list --state stopped: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stderr, code := d.zonectl("", "list", "--state", "asleep"); code == 0 || !strings.Contains(stderr, "asleep") {
		t.Fatalf("zonectl list --state asleep: exit %d, stderr %q", code, stderr)
	}
}
