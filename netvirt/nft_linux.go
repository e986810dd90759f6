package netvirt

// zoned drives nftables with `nft -f -`, one batch per change, rather
// than with github.com/google/nftables: each batch is applied by the
// kernel as one transaction (all or nothing), the rules read as what an
// operator sees in `nft list table bridge zoned_<instance>`, and the bridge-family
// ARP, ND and named-counter expressions need no hand-assembled bytecode.
// The price is a fork per change, which is small beside creating a veth.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
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
func spoofBase(table string) string {
	return fmt.Sprintf(`add table bridge %[1]s
add map bridge %[1]s ports { type ifname : verdict; }
add chain bridge %[1]s prerouting { type filter hook prerouting priority -200; policy accept; }
flush chain bridge %[1]s prerouting
add rule bridge %[1]s prerouting iifname vmap @ports
`, table)
}

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

// LinkLocal is the IPv6 link-local address a NIC with mac has: the
// modified EUI-64 interface identifier (RFC 4291 appendix A) under
// fe80::/64. zoned sets the zone's interface to derive it so (addr_gen_mode
// eui64), so the port's rules know it without asking the zone.
func LinkLocal(mac string) (netip.Addr, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return netip.Addr{}, fmt.Errorf("MAC %q is not an Ethernet address", mac)
	}
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	copy(a[8:], []byte{hw[0] ^ 0x02, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]})
	return netip.AddrFrom16(a), nil
}

// portRules renders a port's chain: anything not from its MAC, ARP not
// from its MAC and IPv4 addresses, IPv4 and IPv6 not from its addresses,
// neighbour advertisements for addresses not its own, router
// advertisements, redirects, DHCP server replies and tagged frames are
// dropped and counted in the port's named counter. Of IPv6 link-local
// addresses only the NIC's own (EUI-64 of its MAC) is its: with all of
// fe80::/10 one zone could speak as another, or answer for another's
// link-local address and take over the gateway's neighbour entry for it.
// The unspecified address is allowed only for what has to use it before
// an address is ready: duplicate address detection (a neighbour
// solicitation, for one of the NIC's own addresses) and MLD reports.
func portRules(table string, p Port) string {
	ch := "bridge " + table + " port_" + p.HostIf
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
	own6 := addrsOf(p.IPv6)
	if ll, err := LinkLocal(p.MAC); err == nil {
		own6 = append([]string{ll.String()}, own6...)
	}
	rule("ether type ip6 ip6 saddr != " + set(append([]string{"::"}, own6...)))
	rule("ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp")
	rule("ether type ip6 ip6 saddr :: icmpv6 type != { nd-neighbor-solicit, mld-listener-report, mld2-listener-report }")
	var targets []string
	for _, a := range own6 {
		targets = append(targets, hex128(netip.MustParseAddr(a)))
	}
	rule("ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != " + set(targets))
	rule("ether type ip6 icmpv6 type nd-neighbor-advert @th,64,128 != " + set(targets))
	rule("ether type ip6 icmpv6 type { nd-router-advert, nd-redirect }")
	rule("ether type ip6 udp sport 547")
	return b.String()
}

// AddPort installs (or replaces) a zone port's anti-spoofing rules in one
// transaction. Its counter survives a replace.
func (o Owner) AddPort(p Port) error {
	t := o.Table()
	script := spoofBase(t) +
		fmt.Sprintf("add counter bridge %s spoof_%s\n", t, p.HostIf) +
		fmt.Sprintf("add chain bridge %s port_%s\nflush chain bridge %s port_%s\n", t, p.HostIf, t, p.HostIf) +
		portRules(t, p) +
		fmt.Sprintf("add element bridge %s ports { \"%s\" : jump port_%s }\n", t, p.HostIf, p.HostIf)
	if err := nft(script); err != nil {
		return fmt.Errorf("anti-spoofing rules for %s: %w", p.HostIf, err)
	}
	return nil
}

// RemovePort removes a port's rules and counter; what is already gone is
// fine.
func (o Owner) RemovePort(hostIf string) error {
	t := o.Table()
	var errs []string
	for _, s := range []string{
		fmt.Sprintf("delete element bridge %s ports { \"%s\" }", t, hostIf),
		fmt.Sprintf("delete chain bridge %s port_%s", t, hostIf),
		fmt.Sprintf("delete counter bridge %s spoof_%s", t, hostIf),
	} {
		if err := nft(s + "\n"); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err.Error())
		}
	}
	// The last port gone, the table goes too: nothing of this daemon's
	// stays on a host where it has no zone NICs.
	if out, err := exec.Command("nft", "list", "map", "bridge", t, "ports").CombinedOutput(); err == nil && !strings.Contains(string(out), "elements") {
		if err := nft("delete table bridge " + t + "\n"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove anti-spoofing rules of %s: %s", hostIf, strings.Join(errs, "; "))
	}
	return nil
}

// ResetPorts replaces this daemon's whole bridge table with the given
// ports' rules, in one transaction: what reconcile uses after a daemon
// start, so rules (chains, counters, map elements) of NICs that are gone
// vanish and those of NICs that exist come back. Other daemons' tables
// are not touched.
func (o Owner) ResetPorts(ports []Port) error {
	t := o.Table()
	var b strings.Builder
	if len(ports) == 0 && !o.tableExists("bridge") {
		return nil
	}
	fmt.Fprintf(&b, "add table bridge %s\ndelete table bridge %s\n", t, t)
	if len(ports) == 0 {
		return nft(b.String())
	}
	b.WriteString(spoofBase(t))
	for _, p := range ports {
		fmt.Fprintf(&b, "add counter bridge %s spoof_%s\nadd chain bridge %s port_%s\n", t, p.HostIf, t, p.HostIf)
		b.WriteString(portRules(t, p))
		fmt.Fprintf(&b, "add element bridge %s ports { \"%s\" : jump port_%s }\n", t, p.HostIf, p.HostIf)
	}
	if err := nft(b.String()); err != nil {
		return fmt.Errorf("rebuild anti-spoofing rules: %w", err)
	}
	return nil
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
func (o Owner) SetNAT(nets []NATNet, fwds []Forward) error {
	t := o.Table()
	if len(nets) == 0 && len(fwds) == 0 && !o.tableExists("ip") {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table ip %s\ndelete table ip %s\n", t, t)
	if len(nets) > 0 || len(fwds) > 0 {
		fmt.Fprintf(&b, "table ip %s {\n", t)
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

// tableExists tells whether this daemon's table of family is there.
// With nothing to install and no table, zoned runs no nft at all: a host
// without nftables or without zone networks is left untouched.
func (o Owner) tableExists(family string) bool {
	return exec.Command("nft", "list", "table", family, o.Table()).Run() == nil
}

// HostAccess is what zones on one of the owner's bridges may reach on
// the host itself (any of its addresses: the gateway's and the others,
// which the host answers ARP for on every link).
type HostAccess struct {
	Bridge string
	// All lets everything in, as a host without the rule would.
	All bool
	// Ports are "tcp:N" or "udp:N": host services offered to the zones
	// (a resolver, a package cache).
	Ports []string
}

// ParseHostAccess reads a network's host access setting: "none" (or "",
// the default), "all", or a comma-separated list of tcp:PORT and
// udp:PORT. It returns the canonical form.
func ParseHostAccess(s string) (string, error) {
	switch s {
	case "", "none":
		return "none", nil
	case "all":
		return "all", nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		proto, port, ok := strings.Cut(strings.TrimSpace(p), ":")
		n, err := strconv.Atoi(port)
		if !ok || (proto != "tcp" && proto != "udp") || err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("host access %q: %q is not none, all or a list like tcp:53,udp:53", s, p)
		}
		out = append(out, proto+":"+strconv.Itoa(n))
	}
	return strings.Join(out, ","), nil
}

// SetHostAccess replaces the owner's inet table in one transaction: an
// input chain that sends packets arriving on each of the given bridges
// to the bridge's chain, which lets in replies to what the host started,
// ICMP and ICMPv6 (ping, path MTU, neighbour discovery) and the listed
// ports, and drops the rest. Without it every service the host binds to
// 0.0.0.0 or :: would answer the zones at the bridge's gateway address.
// Port forwards are not affected: they are rewritten to the zone before
// routing and never reach input. With no bridges the table is removed.
func (o Owner) SetHostAccess(nets []HostAccess) error {
	t := o.Table()
	var limited []HostAccess
	for _, n := range nets {
		if !n.All {
			limited = append(limited, n)
		}
	}
	if len(limited) == 0 && !o.tableExists("inet") {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\n", t, t)
	if len(limited) > 0 {
		sort.Slice(limited, func(i, j int) bool { return limited[i].Bridge < limited[j].Bridge })
		fmt.Fprintf(&b, "table inet %s {\n", t)
		b.WriteString("  chain input {\n    type filter hook input priority filter; policy accept;\n")
		var elems []string
		for _, n := range limited {
			elems = append(elems, fmt.Sprintf("%q : jump host_%s", n.Bridge, n.Bridge))
		}
		fmt.Fprintf(&b, "    iifname vmap { %s }\n  }\n", strings.Join(elems, ", "))
		for _, n := range limited {
			fmt.Fprintf(&b, "  chain host_%s {\n", n.Bridge)
			b.WriteString("    ct state established,related accept\n    meta l4proto { icmp, ipv6-icmp } accept\n")
			ports := map[string][]string{}
			for _, p := range n.Ports {
				proto, port, _ := strings.Cut(p, ":")
				ports[proto] = append(ports[proto], port)
			}
			for _, proto := range []string{"tcp", "udp"} {
				if len(ports[proto]) > 0 {
					fmt.Fprintf(&b, "    %s dport { %s } accept\n", proto, strings.Join(ports[proto], ", "))
				}
			}
			fmt.Fprintf(&b, "    counter drop\n  }\n")
		}
		b.WriteString("}\n")
	}
	if err := nft(b.String()); err != nil {
		return fmt.Errorf("host access rules: %w", err)
	}
	return nil
}
