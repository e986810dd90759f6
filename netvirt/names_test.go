package netvirt

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestNamesFitIFNAMSIZ(t *testing.T) {
	for _, n := range []string{testOwner.BridgeName("a-very-long-network-name-indeed"), HostIfName("uuid", "eth0"), IFBName("u", "eth1"), VXLANName("x"), VLANName("eth0", 4094)} {
		if len(n) > 15 {
			t.Errorf("%s is longer than 15 bytes", n)
		}
	}
	if HostIfName("u1", "eth0") == HostIfName("u2", "eth0") {
		t.Error("two zones got the same host interface name")
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
