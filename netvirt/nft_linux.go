package netvirt

// zoned drives nftables with `nft -f -`, one batch per change, rather
// than with github.com/google/nftables: each batch is applied by the
// kernel as one transaction (all or nothing), the rules read as what an
// operator sees in `nft list table bridge zoned`, and the bridge-family
// ARP, ND and named-counter expressions need no hand-assembled bytecode.
// The price is a fork per change, which is small beside creating a veth.

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Port is what one zone NIC's bridge port may send from.
type Port struct {
	HostIf string
	MAC    string
	IPv4   []string // CIDR
	IPv6   []string // CIDR
}

func nft(script string) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// spoofBase is the bridge table's frame: a prerouting chain that sends
// each zone port's frames to that port's chain through a verdict map, so
// ports come and go without touching other ports' rules and counters.
const spoofBase = `add table bridge zoned
add map bridge zoned ports { type ifname : verdict; }
add chain bridge zoned prerouting { type filter hook prerouting priority -200; policy accept; }
flush chain bridge zoned prerouting
add rule bridge zoned prerouting iifname vmap @ports
`

func addrsOf(cidrs []string) []string {
	var out []string
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Addr().String())
		}
	}
	return out
}

func set(items []string) string { return "{ " + strings.Join(items, ", ") + " }" }

// hex128 writes an IPv6 address as the integer nft compares a raw
// 128-bit payload field with.
func hex128(a netip.Addr) string {
	b := a.As16()
	return fmt.Sprintf("0x%x", b[:])
}

// portRules renders a port's chain: anything not from its MAC, ARP not
// from its MAC and IPv4 addresses, IPv4 and IPv6 not from its addresses
// (IPv6 link-local and the unspecified address for duplicate address
// detection allowed), neighbour advertisements for addresses not its
// own, router advertisements, redirects, DHCP server replies and tagged
// frames are dropped and counted in the port's named counter.
func portRules(p Port) string {
	ch := "bridge zoned port_" + p.HostIf
	cnt := `counter name "spoof_` + p.HostIf + `" drop`
	var b strings.Builder
	rule := func(s string) { fmt.Fprintf(&b, "add rule %s %s %s\n", ch, s, cnt) }
	rule("ether saddr != " + p.MAC)
	rule("ether type vlan")
	rule("ether type arp arp saddr ether != " + p.MAC)
	if v4 := addrsOf(p.IPv4); len(v4) > 0 {
		rule("ether type arp arp saddr ip != " + set(v4))
		rule("ether type ip ip saddr != " + set(v4))
	} else {
		rule("ether type arp")
		rule("ether type ip")
	}
	rule("ether type ip udp sport 67")
	v6 := addrsOf(p.IPv6)
	allowed6 := append([]string{"::", "fe80::/10"}, v6...)
	rule("ether type ip6 ip6 saddr != " + set(allowed6))
	targets := []string{hex128(netip.MustParseAddr("fe80::")) + "-" + hex128(netip.MustParseAddr("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))}
	for _, a := range v6 {
		targets = append(targets, hex128(netip.MustParseAddr(a)))
	}
	rule("ether type ip6 icmpv6 type nd-neighbor-advert @th,64,128 != " + set(targets))
	rule("ether type ip6 icmpv6 type { nd-router-advert, nd-redirect }")
	rule("ether type ip6 udp sport 547")
	return b.String()
}

// AddPort installs (or replaces) a zone port's anti-spoofing rules in one
// transaction. Its counter survives a replace.
func AddPort(p Port) error {
	script := spoofBase +
		fmt.Sprintf("add counter bridge zoned spoof_%s\n", p.HostIf) +
		fmt.Sprintf("add chain bridge zoned port_%s\nflush chain bridge zoned port_%s\n", p.HostIf, p.HostIf) +
		portRules(p) +
		fmt.Sprintf("add element bridge zoned ports { \"%s\" : jump port_%s }\n", p.HostIf, p.HostIf)
	if err := nft(script); err != nil {
		return fmt.Errorf("anti-spoofing rules for %s: %w", p.HostIf, err)
	}
	return nil
}

// RemovePort removes a port's rules and counter; what is already gone is
// fine.
func RemovePort(hostIf string) error {
	var errs []string
	for _, s := range []string{
		fmt.Sprintf("delete element bridge zoned ports { \"%s\" }", hostIf),
		fmt.Sprintf("delete chain bridge zoned port_%s", hostIf),
		fmt.Sprintf("delete counter bridge zoned spoof_%s", hostIf),
	} {
		if err := nft(s + "\n"); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err.Error())
		}
	}
	// The last port gone, the table goes too: nothing of zoned's stays
	// on a host with no zone NICs.
	if out, err := exec.Command("nft", "list", "map", "bridge", "zoned", "ports").CombinedOutput(); err == nil && !strings.Contains(string(out), "elements") {
		if err := nft("delete table bridge zoned\n"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove anti-spoofing rules of %s: %s", hostIf, strings.Join(errs, "; "))
	}
	return nil
}

// ResetPorts replaces the whole bridge table with the given ports' rules,
// in one transaction: what reconcile uses after a daemon start, so rules
// of NICs that are gone vanish and those of NICs that exist come back.
func ResetPorts(ports []Port) error {
	var b strings.Builder
	if len(ports) == 0 && !tableExists("bridge") {
		return nil
	}
	b.WriteString("add table bridge zoned\ndelete table bridge zoned\n")
	if len(ports) == 0 {
		return nft(b.String())
	}
	b.WriteString(spoofBase)
	for _, p := range ports {
		fmt.Fprintf(&b, "add counter bridge zoned spoof_%s\nadd chain bridge zoned port_%s\n", p.HostIf, p.HostIf)
		b.WriteString(portRules(p))
		fmt.Fprintf(&b, "add element bridge zoned ports { \"%s\" : jump port_%s }\n", p.HostIf, p.HostIf)
	}
	if err := nft(b.String()); err != nil {
		return fmt.Errorf("rebuild anti-spoofing rules: %w", err)
	}
	return nil
}

var packetsRE = regexp.MustCompile(`packets (\d+)`)

// SpoofDrops is how many frames a port's anti-spoofing rules dropped.
func SpoofDrops(hostIf string) (uint64, error) {
	out, err := exec.Command("nft", "list", "counter", "bridge", "zoned", "spoof_"+hostIf).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("read counter of %s: %w: %s", hostIf, err, out)
	}
	m := packetsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("read counter of %s: no packets in %q", hostIf, out)
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}

// NATNet is a network whose zones' traffic is masqueraded.
type NATNet struct {
	Subnet string
	Bridge string
}

// Forward is one port forward into a zone.
type Forward struct {
	Protocol string
	HostPort int
	Addr     string
	ZonePort int
}

// SetNAT replaces the ip-family NAT table in one transaction: masquerade
// for NAT networks' traffic leaving through anything but their bridge,
// and DNAT of forwarded host ports (for traffic from outside and from
// the host itself). With nothing to do the table is removed.
func SetNAT(nets []NATNet, fwds []Forward) error {
	if len(nets) == 0 && len(fwds) == 0 && !tableExists("ip") {
		return nil
	}
	var b strings.Builder
	b.WriteString("add table ip zoned\ndelete table ip zoned\n")
	if len(nets) > 0 || len(fwds) > 0 {
		b.WriteString("table ip zoned {\n")
		b.WriteString("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n")
		sort.Slice(nets, func(i, j int) bool { return nets[i].Subnet < nets[j].Subnet })
		for _, n := range nets {
			fmt.Fprintf(&b, "    ip saddr %s oifname != %q masquerade\n", n.Subnet, n.Bridge)
		}
		b.WriteString("  }\n")
		for _, ch := range []string{"prerouting { type nat hook prerouting priority dstnat; policy accept;", "output { type nat hook output priority -100; policy accept;"} {
			fmt.Fprintf(&b, "  chain %s\n", ch)
			for _, f := range fwds {
				fmt.Fprintf(&b, "    fib daddr type local %s dport %d dnat to %s:%d\n", f.Protocol, f.HostPort, f.Addr, f.ZonePort)
			}
			b.WriteString("  }\n")
		}
		b.WriteString("}\n")
	}
	if err := nft(b.String()); err != nil {
		return fmt.Errorf("NAT rules: %w", err)
	}
	return nil
}

// tableExists tells whether zoned's table of family is there. With
// nothing to install and no table, zoned runs no nft at all: a host
// without nftables or without zone networks is left untouched.
func tableExists(family string) bool {
	return exec.Command("nft", "list", "table", family, Table).Run() == nil
}
