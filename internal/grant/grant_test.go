package grant

import (
	"reflect"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
)

// TestLimitHostileData: data that asks for privilege, devices, no limits,
// another tenant's labels, autostart, a pool and NICs gets none of them;
// the zone is what the request grants, and every drop is said.
func TestLimitHostileData(t *testing.T) {
	data := api.CreateZoneRequest{
		Name: "web1", Template: "deb12", Hostname: "web1.example.com",
		Privileged: true, Devices: []string{"tun", "fuse"},
		Resources: api.Resources{}, Labels: map[string]string{"customer": "c1", "plan": "gold"},
		Autostart: true, AutostartPriority: 1000, Pool: "fast",
		NICs: []api.NICRequest{{}}, DNS: []string{"1.1.1.1"},
	}
	granted := api.CreateZoneRequest{
		Name: "web1", Devices: []string{"fuse"},
		Resources: api.Resources{MemoryBytes: 1 << 30, PidsMax: 512, DiskBytes: 10 << 30},
		Labels:    map[string]string{"customer": "c2"},
	}
	got, warn := Limit(data, granted)
	want := api.CreateZoneRequest{
		Name: "web1", Template: "deb12", Hostname: "web1.example.com", Devices: []string{"fuse"},
		Resources: granted.Resources, Labels: map[string]string{"customer": "c2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Limit =\n%+v\nwant\n%+v", got, want)
	}
	all := strings.Join(warn, "\n")
	for _, w := range []string{"privileged", "devices tun", "labels customer=c1,plan=gold", "autostart", `pool "fast"`, "NICs"} {
		if !strings.Contains(all, w) {
			t.Errorf("no warning about %s in\n%s", w, all)
		}
	}
	// The result shares no slice or map with the request.
	got.Devices[0], got.Labels["customer"] = "tun", "c1"
	if granted.Devices[0] != "fuse" || granted.Labels["customer"] != "c2" {
		t.Error("Limit's result aliases the grant")
	}
}

// TestLimitIdentity: the data names the zone only when the request does
// not, and its host name goes with its name.
func TestLimitIdentity(t *testing.T) {
	data := api.CreateZoneRequest{Name: "a", Template: "t", Hostname: "a.example.com", Resources: api.Resources{MemoryBytes: 1 << 20}}
	got, _ := Limit(data, api.CreateZoneRequest{})
	if got.Name != "a" || got.Hostname != "a.example.com" || got.Template != "t" || got.Resources != (api.Resources{}) {
		t.Fatalf("unnamed request: %+v", got)
	}
	got, warn := Limit(data, api.CreateZoneRequest{Name: "b"})
	if got.Name != "b" || got.Hostname != "" {
		t.Fatalf("renamed: %+v", got)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "resources") {
		t.Fatalf("warnings %q, want one about resources", warn)
	}
	// A template in the request wins, and the change is said.
	got, warn = Limit(data, api.CreateZoneRequest{Template: "u"})
	if got.Template != "u" || len(warn) != 2 || !strings.Contains(warn[0], `template "t"`) {
		t.Fatalf("template granted: %+v, %q", got, warn)
	}
	// A grant of what the data asked for warns of nothing.
	same := api.CreateZoneRequest{Name: "a", Privileged: true, Devices: []string{"tun"}, Labels: map[string]string{"k": "v"}, Resources: data.Resources}
	data.Privileged, data.Devices, data.Labels = true, []string{"tun"}, map[string]string{"k": "v"}
	if _, warn := Limit(data, same); len(warn) != 0 {
		t.Fatalf("warnings %q for a full grant", warn)
	}
}
