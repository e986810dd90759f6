package network

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

func TestCheckNetwork(t *testing.T) {
	nw, err := checkNetwork(netvirt.Owner{ID: "0badc0de"}, api.Network{Name: "lan", Subnet: "10.20.0.9/24", NAT: true})
	if err != nil {
		t.Fatal(err)
	}
	if nw.Type != api.NetworkBridge || nw.Subnet != "10.20.0.0/24" || nw.Gateway != "10.20.0.1" || !strings.HasPrefix(nw.Bridge, "zbr") {
		t.Errorf("defaults: %+v", nw)
	}
	for _, c := range []struct {
		nw   api.Network
		want string
	}{
		{api.Network{Name: "a", Type: "ovs"}, "not bridge, macvlan or vxlan"},
		{api.Network{Name: "a", Subnet: "10.0.0.0/24", Gateway: "10.1.0.1"}, "not an address in subnet"},
		{api.Network{Name: "a", NAT: true}, "NAT needs a subnet"},
		{api.Network{Name: "a", Subnet: "fd00::/64"}, "not an IPv4 prefix"},
		{api.Network{Name: "a", Type: "macvlan", Parent: "nosuch0"}, "does not exist"},
		{api.Network{Name: "a", Type: "vxlan", VNI: 42}, "exactly one of remote and group"},
		{api.Network{Name: "a", Type: "vxlan", VNI: 0, Remote: "192.0.2.1"}, "VNI 0"},
		{api.Network{Name: "a", Type: "vxlan", VNI: 4, Group: "192.0.2.1"}, "not a multicast"},
		{api.Network{Name: "a", VNI: 4}, "for vxlan networks"},
		{api.Network{Name: "a", MTU: 100}, "MTU 100"},
		{api.Network{Name: "a", DNS: []string{"dns.example"}}, "nameserver"},
	} {
		_, err := checkNetwork(netvirt.Owner{}, c.nw)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%+v: error %v, want one saying %q", c.nw, err, c.want)
		}
	}
}
