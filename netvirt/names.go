//go:build linux

package netvirt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/errdefs"
)

// Owner is one daemon's claim on the host's network objects. Several
// daemons can share a host (a test suite runs many, an operator may run a
// second one on another data directory), and each must find, rebuild and
// sweep its own objects without touching another's: its nftables tables
// are named after it (zoned_<id>), and every link it makes carries its
// alias (zoned:<id>, `ip link show` prints it), so reconcile can tell
// its own leftovers from another daemon's links.
type Owner struct {
	// ID is the daemon's instance ID, kept in its store; "" is the name
	// scheme of daemons from before instance IDs (tables named zoned).
	ID string
}

// Table is the name of the owner's nftables tables: bridge family for
// anti-spoofing, ip family for NAT, inet family for what zones may reach
// on the host.
func (o Owner) Table() string {
	if o.ID == "" {
		return "zoned"
	}
	return "zoned_" + o.ID
}

// Alias is what the owner writes in the alias of each link it makes.
func (o Owner) Alias() string { return "zoned:" + o.ID }

// NewInstanceID makes a daemon instance ID: 8 hex digits, so table names
// stay short and read well in `nft list tables`.
func NewInstanceID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidInstanceID tells whether id is one NewInstanceID could have made:
// it is spliced into nft scripts.
func ValidInstanceID(id string) bool {
	if len(id) != 8 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// shortHash is 8 hex digits of a SHA-256 over parts: with a two or three
// letter prefix it keeps interface names within IFNAMSIZ (15).
func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:4])
}

// BridgeName is the host bridge of network name made by o: two daemons
// on one host that both have a network "lan" get two bridges. (A
// network's bridge is stored with it, so networks made before instance
// IDs keep theirs.)
func (o Owner) BridgeName(network string) string {
	if o.ID == "" {
		return "zbr" + shortHash("net", network)
	}
	return "zbr" + shortHash("net", o.ID, network)
}

// VXLANName is the VXLAN device of network name.
func VXLANName(network string) string { return "zxl" + shortHash("vxlan", network) }

// VLANName is the 802.1Q sub-interface of parent for vid.
func VLANName(parent string, vid int) string {
	return vlanPrefix + shortHash("vlan", parent, strconv.Itoa(vid))
}

// vlanPrefix begins the name of every 802.1Q sub-interface (VLANName).
const vlanPrefix = "zxq"

// IsVLANName tells whether name is one VLANName makes: sub-interfaces
// are shared by the networks and NICs on one parent and VLAN, so the
// sweep of leftover links leaves them to the networks that own them.
func IsVLANName(name string) bool { return strings.HasPrefix(name, vlanPrefix) }

// HostIfName is the host side of a zone's NIC.
func HostIfName(zoneUUID, nic string) string { return hostIfPrefix + shortHash("nic", zoneUUID, nic) }

// hostIfPrefix begins the name of a NIC's host side (HostIfName).
const hostIfPrefix = "zv"

// IFBName is the ifb device that shapes traffic out of the NIC whose
// host side is hostIf (SetRate): the same hash as hostIf's behind zxb, so
// the ifb is found from the veth alone, with no record of its own.
func IFBName(hostIf string) string { return "zxb" + strings.TrimPrefix(hostIf, hostIfPrefix) }

// StableMAC derives a locally administered unicast MAC from the zone's
// UUID and the NIC's name: the same zone's eth0 keeps its address across
// restarts and daemon upgrades, so neighbours' ARP caches stay right.
func StableMAC(zoneUUID, nic string) string {
	h := sha256.Sum256([]byte("mac\x00" + zoneUUID + "\x00" + nic))
	h[0] = h[0]&0xfe | 0x02
	return net.HardwareAddr(h[:6]).String()
}

// ParseMAC checks a MAC a user gave: unicast, six bytes, canonical form.
func ParseMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("MAC %q is not an Ethernet address like 02:00:00:00:00:01: %w", s, errdefs.ErrInvalid)
	}
	if hw[0]&1 != 0 {
		return "", fmt.Errorf("MAC %q is a multicast address: %w", s, errdefs.ErrInvalid)
	}
	if hw.String() == "00:00:00:00:00:00" {
		return "", fmt.Errorf("MAC %q is all zeros: %w", s, errdefs.ErrInvalid)
	}
	return hw.String(), nil
}

// ParseSubnet reads an IPv4 subnet and returns it masked.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet %q is not an IPv4 prefix like 10.20.0.0/24: %w", s, errdefs.ErrInvalid)
	}
	if p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("subnet %q is too small for a gateway and a zone (at most /30): %w", s, errdefs.ErrInvalid)
	}
	return p.Masked(), nil
}

// Overlaps tells whether two subnets share an address.
func Overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// broadcast is the last address of p.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// FirstHost is the subnet's first usable address (the default gateway).
func FirstHost(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// CheckHostAddr checks that addr (CIDR form) is a usable host address of
// subnet: inside it, with its prefix length, and neither the network nor
// the broadcast address nor the gateway.
func CheckHostAddr(addr string, subnet netip.Prefix, gateway netip.Addr) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(addr)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("address %q is not IPv4 in CIDR form like 10.20.0.5/24: %w", addr, errdefs.ErrInvalid)
	}
	if !subnet.IsValid() {
		return p, nil
	}
	if !subnet.Contains(p.Addr()) || p.Bits() != subnet.Bits() {
		return netip.Prefix{}, fmt.Errorf("address %s is outside the network's subnet %s: %w", addr, subnet, errdefs.ErrInvalid)
	}
	if p.Addr() == subnet.Addr() || p.Addr() == broadcast(subnet) || p.Addr() == gateway {
		return netip.Prefix{}, fmt.Errorf("address %s is the subnet's network, broadcast or gateway address: %w", addr, errdefs.ErrInvalid)
	}
	return p, nil
}

// NextFree returns the first host address of subnet (after the gateway)
// for which used is false, in CIDR form.
func NextFree(subnet netip.Prefix, gateway netip.Addr, used func(netip.Addr) bool) (string, error) {
	last := broadcast(subnet)
	for a := FirstHost(subnet); a.IsValid() && a.Less(last); a = a.Next() {
		if a == gateway || used(a) {
			continue
		}
		return netip.PrefixFrom(a, subnet.Bits()).String(), nil
	}
	return "", fmt.Errorf("no free address left in subnet %s: %w", subnet, errdefs.ErrConflict)
}

// ParseIPv6 checks an IPv6 address in CIDR form.
func ParseIPv6(addr string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(addr)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("address %q is not IPv6 in CIDR form like fd00::5/64: %w", addr, errdefs.ErrInvalid)
	}
	return p, nil
}
