//go:build linux

package netvirt

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestNamesFitIFNAMSIZ(t *testing.T) {
	for _, n := range []string{testOwner.BridgeName("a-very-long-network-name-indeed"), HostIfName("uuid", "eth0"), IFBName(HostIfName("u", "eth1")), VXLANName("x"), VLANName("eth0", 4094)} {
		if len(n) > 15 {
			t.Errorf("%s is longer than 15 bytes", n)
		}
	}
	if HostIfName("u1", "eth0") == HostIfName("u2", "eth0") {
		t.Error("two zones got the same host interface name")
	}
}

// TestIFBAndVLANNames checks that the ifb found from a NIC's veth is the
// one older daemons named from the zone and NIC (a zone kept running
// across an upgrade keeps its rate cap's device), and that the sweep
// tells 802.1Q sub-interfaces from other links.
func TestIFBAndVLANNames(t *testing.T) {
	if got, want := IFBName(HostIfName("u", "eth1")), "zxb"+shortHash("nic", "u", "eth1"); got != want {
		t.Errorf("ifb of eth1 is %s, was %s", got, want)
	}
	if IFBName(HostIfName("u", "eth0")) == IFBName(HostIfName("u", "eth1")) {
		t.Error("two NICs share an ifb")
	}
	if !IsVLANName(VLANName("eth0", 100)) {
		t.Errorf("%s not known as a VLAN device", VLANName("eth0", 100))
	}
	for _, n := range []string{HostIfName("u", "eth0"), IFBName(HostIfName("u", "eth0")), VXLANName("x"), testOwner.BridgeName("lan")} {
		if IsVLANName(n) {
			t.Errorf("%s taken for a VLAN device", n)
		}
	}
}

func TestStableMAC(t *testing.T) {
	a, b := StableMAC("u1", "eth0"), StableMAC("u1", "eth0")
	if a != b {
		t.Fatalf("MAC not stable: %s vs %s", a, b)
	}
	if a == StableMAC("u1", "eth1") {
		t.Fatal("two NICs share a MAC")
	}
	m, err := ParseMAC(a)
	if err != nil || m != a {
		t.Fatalf("derived MAC %s not valid: %v", a, err)
	}
	if m[1] != '2' && m[1] != '6' && m[1] != 'a' && m[1] != 'e' {
		t.Errorf("%s is not locally administered unicast", a)
	}
	if _, err := ParseMAC("01:00:5e:00:00:01"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("multicast MAC accepted: %v", err)
	}
}

func TestAddressing(t *testing.T) {
	sub, err := ParseSubnet("10.20.0.7/24")
	if err != nil || sub.String() != "10.20.0.0/24" {
		t.Fatalf("ParseSubnet: %v %v", sub, err)
	}
	gw := FirstHost(sub)
	if _, err := CheckHostAddr("10.21.0.5/24", sub, gw); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("address outside subnet accepted: %v", err)
	}
	for _, bad := range []string{"10.20.0.1/24", "10.20.0.255/24", "10.20.0.0/24", "10.20.0.5/16"} {
		if _, err := CheckHostAddr(bad, sub, gw); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	used := map[netip.Addr]bool{netip.MustParseAddr("10.20.0.2"): true}
	got, err := NextFree(sub, gw, func(a netip.Addr) bool { return used[a] })
	if err != nil || got != "10.20.0.3/24" {
		t.Errorf("NextFree = %s, %v", got, err)
	}
	small, _ := ParseSubnet("10.9.0.0/30")
	if _, err := NextFree(small, FirstHost(small), func(netip.Addr) bool { return true }); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("full subnet: %v", err)
	}
	a, _ := ParseSubnet("10.0.0.0/16")
	b, _ := ParseSubnet("10.0.5.0/24")
	if !Overlaps(a, b) {
		t.Error("overlap not seen")
	}
}

func TestLinkLocal(t *testing.T) {
	// RFC 4291 appendix A: the universal/local bit flips, ff:fe goes in
	// the middle.
	a, err := LinkLocal("02:00:5e:10:00:01")
	if err != nil || a.String() != "fe80::5eff:fe10:1" {
		t.Errorf("LinkLocal: %v %v", a, err)
	}
	if _, err := LinkLocal("nonsense"); err == nil {
		t.Error("a bad MAC gave a link-local address")
	}
}

func TestParseHostAccess(t *testing.T) {
	for in, want := range map[string]string{"": "none", "none": "none", "all": "all", "tcp:53, udp:53": "tcp:53,udp:53"} {
		if got, err := ParseHostAccess(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ssh", "tcp:0", "tcp:70000", "icmp:1", "tcp"} {
		if _, err := ParseHostAccess(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestOwnerNames(t *testing.T) {
	a, b := Owner{ID: NewInstanceID()}, Owner{ID: NewInstanceID()}
	if !ValidInstanceID(a.ID) || ValidInstanceID("zoned; drop") {
		t.Errorf("instance ID checks: %q", a.ID)
	}
	if a.Table() == b.Table() || a.BridgeName("lan") == b.BridgeName("lan") || a.Alias() == b.Alias() {
		t.Error("two daemons share a table, bridge or alias name")
	}
	if !strings.HasPrefix(a.Table(), "zoned_") || (Owner{}).Table() != "zoned" {
		t.Errorf("table names: %q %q", a.Table(), Owner{}.Table())
	}
}

// testOwner is the daemon these tests stand in for.
var testOwner = Owner{ID: "7e577e57"}
