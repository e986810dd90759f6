package netvirt

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/vishvananda/netlink"

	"github.com/zoned-project/zoned/internal/netnsdo"
)

// inNetns marks the test binary re-executed in a network namespace of its
// own: links, nftables tables and qdiscs these tests make live there and
// vanish with it, and the host's network is never touched.
const inNetns = "ZONED_NETVIRT_TEST_NETNS"

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv(inNetns) == "" {
		if _, err := exec.LookPath("unshare"); err == nil {
			cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), inNetns+"=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); ok {
				os.Exit(ee.ExitCode())
			} else if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

func requireNetns(t testing.TB) {
	t.Helper()
	if os.Getenv(inNetns) == "" {
		t.Skip("needs root and unshare: runs in a network namespace of its own")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (Debian package nftables)")
	}
}

// fakeZone is a process in a network namespace of its own, standing in
// for a zone's init.
func fakeZone(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// unshare has made the namespace once its netns differs from ours.
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 500; i++ {
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)); err == nil && ns != self {
			return cmd.Process.Pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("unshare --net did not make a namespace")
	return 0
}

func inZone(t testing.TB, pid int, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=/proc/" + fmt.Sprint(pid) + "/ns/net", "--"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v in zone: %v: %s", args, err, out)
	}
	return string(out)
}

func TestBridgeVethNftAndRate(t *testing.T) {
	requireNetns(t)
	br := testOwner.BridgeName("t1")
	gw := netip.MustParsePrefix("10.77.0.1/24")
	if err := testOwner.EnsureBridge(br, gw, 0, false); err != nil {
		t.Fatal(err)
	}
	// A second call finds the bridge and changes nothing.
	if err := testOwner.EnsureBridge(br, gw, 0, false); err != nil {
		t.Fatal(err)
	}
	pid := fakeZone(t)
	nic := NIC{Name: "eth0", HostIf: HostIfName("z1", "eth0"), MAC: StableMAC("z1", "eth0"), IPv4: []string{"10.77.0.2/24"}, IPv6: []string{"fd77::2/64"}, Gateway: "10.77.0.1"}
	if err := testOwner.AttachVeth(pid, br, nic); err != nil {
		t.Fatal(err)
	}
	out := inZone(t, pid, "ip", "-o", "addr", "show", "eth0")
	if !strings.Contains(out, "10.77.0.2/24") || !strings.Contains(out, "fd77::2/64") {
		t.Errorf("zone's eth0: %s", out)
	}
	if out := inZone(t, pid, "ip", "link", "show", "eth0"); !strings.Contains(out, nic.MAC) {
		t.Errorf("zone's eth0 has not MAC %s: %s", nic.MAC, out)
	}
	if out := inZone(t, pid, "ip", "route"); !strings.Contains(out, "default via 10.77.0.1 dev eth0") {
		t.Errorf("zone's routes: %s", out)
	}
	inZone(t, pid, "ping", "-c", "1", "-W", "5", "10.77.0.1")

	p := Port{HostIf: nic.HostIf, MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6}
	if err := testOwner.AddPort(p); err != nil {
		t.Fatal(err)
	}
	if err := testOwner.AddPort(p); err != nil {
		t.Fatalf("replace port rules: %v", err)
	}
	inZone(t, pid, "ping", "-c", "1", "-W", "5", "10.77.0.1")
	// A second address the port does not own: the bridge drops it.
	inZone(t, pid, "ip", "addr", "add", "10.77.0.99/24", "dev", "eth0")
	before, err := testOwner.spoofDrops(nic.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("nsenter", "--net=/proc/"+fmt.Sprint(pid)+"/ns/net", "ping", "-c", "1", "-W", "1", "-I", "10.77.0.99", "10.77.0.1").Run(); err == nil {
		t.Error("ping from a spoofed address got an answer")
	}
	after, _ := testOwner.spoofDrops(nic.HostIf)
	if after <= before {
		t.Errorf("spoof counter did not grow: %d -> %d", before, after)
	}

	// A DHCP server's reply from the zone's own address: dropped too.
	before = after
	sendUDPFrom(t, pid, 67, "10.77.0.2", "10.77.0.1:68")
	if after, _ = testOwner.spoofDrops(nic.HostIf); after <= before {
		t.Errorf("DHCP server reply not dropped: %d -> %d", before, after)
	}

	// A router advertisement, and a neighbour advertisement for an
	// address the port does not own: both dropped and counted. A real
	// one for the port's own address still passes the bridge.
	for _, c := range []struct {
		what  string
		typ   ipv6.ICMPType
		body  icmp.MessageBody
		drops bool
	}{
		{"router advertisement", ipv6.ICMPTypeRouterAdvertisement, &icmp.RawBody{Data: make([]byte, 12)}, true},
		{"neighbour advertisement for another zone's address", ipv6.ICMPTypeNeighborAdvertisement, &icmp.RawBody{Data: naBody("fd77::99")}, true},
		{"neighbour advertisement for its own address", ipv6.ICMPTypeNeighborAdvertisement, &icmp.RawBody{Data: naBody("fd77::2")}, false},
	} {
		before, _ = testOwner.spoofDrops(nic.HostIf)
		sendICMPv6From(t, pid, "eth0", c.typ, c.body)
		after, _ = testOwner.spoofDrops(nic.HostIf)
		if c.drops && after <= before {
			t.Errorf("%s from a zone not dropped: %d -> %d", c.what, before, after)
		}
		if !c.drops && after != before {
			t.Errorf("%s from a zone dropped: %d -> %d", c.what, before, after)
		}
	}

	// IPv6 link-local: only the NIC's own (EUI-64 of its MAC) is its.
	// Another zone's link-local as source, or a neighbour advertisement
	// for another's link-local target (which would re-point the
	// gateway's neighbour entry for it), is dropped; its own passes.
	ll, err := LinkLocal(nic.MAC)
	if err != nil {
		t.Fatal(err)
	}
	if out := inZone(t, pid, "ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"); !strings.Contains(out, ll.String()) {
		t.Fatalf("zone's link-local address is not %s (EUI-64 of %s): %s", ll, nic.MAC, out)
	}
	other, _ := LinkLocal(StableMAC("z2", "eth0"))
	inZone(t, pid, "ip", "addr", "add", other.String()+"/64", "dev", "eth0", "nodad")
	for _, c := range []struct {
		what  string
		src   string
		body  icmp.MessageBody
		drops bool
	}{
		{"advertisement for another zone's link-local address", "::", &icmp.RawBody{Data: naBody(other.String())}, true},
		{"advertisement from another zone's link-local address", other.String(), &icmp.RawBody{Data: naBody(other.String())}, true},
		{"advertisement for its own link-local address", ll.String(), &icmp.RawBody{Data: naBody(ll.String())}, false},
	} {
		before, _ = testOwner.spoofDrops(nic.HostIf)
		sendICMPv6FromAddr(t, pid, "eth0", c.src, ipv6.ICMPTypeNeighborAdvertisement, c.body)
		after, _ = testOwner.spoofDrops(nic.HostIf)
		if c.drops && after <= before {
			t.Errorf("neighbour %s not dropped: %d -> %d", c.what, before, after)
		}
		if !c.drops && after != before {
			t.Errorf("neighbour %s dropped: %d -> %d", c.what, before, after)
		}
	}
	inZone(t, pid, "ip", "addr", "del", other.String()+"/64", "dev", "eth0")
	// Its own link-local address talks to the bridge's.
	brl, _ := netlink.LinkByName(br)
	brAddrs, _ := netlink.AddrList(brl, netlink.FAMILY_V6)
	for _, a := range brAddrs {
		if a.IP.IsLinkLocalUnicast() {
			inZone(t, pid, "ping", "-6", "-c", "1", "-W", "5", a.IP.String()+"%eth0")
		}
	}

	if err := testOwner.SetRate(nic.HostIf, 10e6); err != nil {
		t.Fatal(err)
	}
	if err := testOwner.SetRate(nic.HostIf, 20e6); err != nil {
		t.Fatalf("change rate live: %v", err)
	}
	if out, _ := exec.Command("tc", "class", "show", "dev", nic.HostIf).CombinedOutput(); !strings.Contains(string(out), "rate 20Mbit") {
		t.Errorf("HTB class after change: %s", out)
	}
	if !LinkExists(IFBName(nic.HostIf)) {
		t.Error("no ifb device")
	}
	inZone(t, pid, "ping", "-c", "1", "-W", "5", "10.77.0.1")
	if err := testOwner.SetRate(nic.HostIf, 0); err != nil {
		t.Fatal(err)
	}
	if LinkExists(IFBName(nic.HostIf)) {
		t.Error("ifb left after removing the rate")
	}

	if err := testOwner.RemovePort(nic.HostIf); err != nil {
		t.Fatal(err)
	}
	if err := testOwner.RemovePort(nic.HostIf); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if err := testOwner.ResetPorts(nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), testOwner.Table()) {
		t.Errorf("table left: %s", out)
	}
	if err := DeleteLink(nic.HostIf); err != nil {
		t.Fatal(err)
	}
	if out := inZone(t, pid, "ip", "-o", "link"); strings.Contains(out, "eth0") {
		t.Errorf("zone still has eth0 after the host side went: %s", out)
	}
	if err := DeleteLink(br); err != nil {
		t.Fatal(err)
	}
}

func TestNATTable(t *testing.T) {
	requireNetns(t)
	if err := testOwner.SetNAT([]NATNet{{Subnet: "10.78.0.0/24", Bridge: testOwner.BridgeName("n")}}, []Forward{{Protocol: "tcp", HostPort: 8080, Addr: "10.78.0.2", ZonePort: 80}}); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("nft", "list", "table", "ip", testOwner.Table()).CombinedOutput()
	if !strings.Contains(string(out), "masquerade") || !strings.Contains(string(out), "dnat to 10.78.0.2:80") {
		t.Errorf("NAT table: %s", out)
	}
	if err := testOwner.SetNAT(nil, nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("nft", "list", "tables").CombinedOutput(); strings.Contains(string(out), testOwner.Table()) {
		t.Errorf("table left: %s", out)
	}
}

// TestVLANs: on a kernel with bridge VLAN filtering and 802.1Q (the
// stock-kernel lane), a zone's bridge port carries its VLAN as untagged
// PVID and a macvlan NIC sits on the parent's 802.1Q sub-interface; on
// one without (these machines), both fail with errors naming the
// missing kernel option.
func TestVLANs(t *testing.T) {
	requireNetns(t)
	br := testOwner.BridgeName("vf")
	err := testOwner.EnsureBridge(br, netip.Prefix{}, 0, true)
	defer DeleteLink(br)
	if perr := ProbeBridgeVLANFiltering(); perr != nil {
		if err == nil || !strings.Contains(err.Error(), "CONFIG_BRIDGE_VLAN_FILTERING") || !strings.Contains(perr.Error(), "CONFIG_BRIDGE_VLAN_FILTERING") {
			t.Fatalf("kernel without VLAN filtering: errors %v / %v do not name the option", err, perr)
		}
		if err := Has8021Q(); err == nil || !strings.Contains(err.Error(), "CONFIG_VLAN_8021Q") {
			t.Errorf("802.1Q probe: %v", err)
		}
		t.Skip("kernel lacks CONFIG_BRIDGE_VLAN_FILTERING and CONFIG_VLAN_8021Q; the errors name them (the stock-kernel lane runs the rest)")
	}
	if err != nil {
		t.Fatal(err)
	}
	pid := fakeZone(t)
	nic := NIC{Name: "eth0", HostIf: HostIfName("v", "eth0"), MAC: StableMAC("v", "eth0"), VLAN: 100}
	if err := testOwner.AttachVeth(pid, br, nic); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("bridge", "vlan", "show", "dev", nic.HostIf).CombinedOutput()
	if !strings.Contains(string(out), "100 PVID") || !strings.Contains(string(out), "Untagged") || strings.Contains(string(out), " 1 ") {
		t.Errorf("port VLANs, want only 100 as untagged PVID: %s", out)
	}

	if err := Has8021Q(); err != nil {
		t.Fatalf("kernel has bridge VLAN filtering but: %v", err)
	}
	if out, err := exec.Command("ip", "link", "add", "vp0", "type", "veth", "peer", "name", "vp1").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer DeleteLink("vp0")
	for _, l := range []string{"vp0", "vp1"} {
		if out, err := exec.Command("ip", "link", "set", l, "up").CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	sub, err := testOwner.EnsureVLANDevice("vp0", 200)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "-d", "link", "show", sub).CombinedOutput(); !strings.Contains(string(out), "802.1Q id 200") {
		t.Errorf("sub-interface %s: %s", sub, out)
	}
	mv := NIC{Name: "eth1", MAC: StableMAC("v", "eth1"), IPv4: []string{"10.79.0.2/24"}}
	if err := AttachMacvlan(pid, sub, mv); err != nil {
		t.Fatal(err)
	}
	if out := inZone(t, pid, "ip", "-d", "link", "show", "eth1"); !strings.Contains(out, "macvlan") || !strings.Contains(out, "10.79.0.2") && !strings.Contains(inZone(t, pid, "ip", "addr", "show", "eth1"), "10.79.0.2/24") {
		t.Errorf("macvlan on the VLAN: %s", out)
	}
	if err := DeleteVLANDevices("vp0"); err != nil {
		t.Fatal(err)
	}
	if LinkExists(sub) {
		t.Errorf("sub-interface %s left", sub)
	}
}

// inZoneNetns runs fn on a thread in the network namespace of the zone
// whose init is pid: a socket made there stays there.
func inZoneNetns(t *testing.T, pid int, fn func()) {
	t.Helper()
	if err := netnsdo.Do(fmt.Sprintf("/proc/%d/ns/net", pid), fn); err != nil {
		t.Fatal(err)
	}
}

// sendUDPFrom sends a datagram from port sport of the zone whose init is
// pid, on a thread that enters the zone's network namespace for the
// socket's making only.
func sendUDPFrom(t *testing.T, pid, sport int, src, dst string) {
	t.Helper()
	laddr := &net.UDPAddr{IP: net.ParseIP(src), Port: sport}
	raddr, _ := net.ResolveUDPAddr("udp4", dst)
	var c *net.UDPConn
	var err error
	inZoneNetns(t, pid, func() { c, err = net.DialUDP("udp4", laddr, raddr) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		if _, err := c.Write([]byte("dhcp-offer")); err != nil {
			t.Fatal(err)
		}
	}
}

// naBody is a neighbour advertisement's body after the ICMPv6 header:
// flags (solicited, override) and the target address.
func naBody(target string) []byte {
	b := make([]byte, 20)
	b[0] = 0x60
	a := netip.MustParseAddr(target).As16()
	copy(b[4:], a[:])
	return b
}

// sendICMPv6From sends an ICMPv6 message from inside the zone's network
// namespace to all nodes on its link, from its link-local address, as a
// router or a neighbour would.
func sendICMPv6From(t *testing.T, pid int, ifname string, typ ipv6.ICMPType, body icmp.MessageBody) {
	t.Helper()
	sendICMPv6FromAddr(t, pid, ifname, "::", typ, body)
}

// sendICMPv6FromAddr is sendICMPv6From from source address src (an
// address of ifname's, "::" for the kernel's choice).
func sendICMPv6FromAddr(t *testing.T, pid int, ifname, src string, typ ipv6.ICMPType, body icmp.MessageBody) {
	t.Helper()
	// Duplicate address detection must be over, or the kernel has no
	// link-local source to send from.
	waitDAD := func() bool {
		out, _ := exec.Command("nsenter", "--net=/proc/"+fmt.Sprint(pid)+"/ns/net", "ip", "-6", "addr", "show", "dev", ifname, "tentative").CombinedOutput()
		return strings.TrimSpace(string(out)) == ""
	}
	for i := 0; i < 300 && !waitDAD(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	var c *icmp.PacketConn
	var err error
	if src != "::" {
		src += "%" + ifname
	}
	inZoneNetns(t, pid, func() { c, err = icmp.ListenPacket("ip6:ipv6-icmp", src) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Neighbour discovery demands a hop limit of 255.
	if err := c.IPv6PacketConn().SetMulticastHopLimit(255); err != nil {
		t.Fatal(err)
	}
	msg, err := (&icmp.Message{Type: typ, Body: body}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.IPAddr{IP: net.ParseIP("ff02::1"), Zone: ifname}
	for i := 0; i < 3; i++ {
		if _, err := c.WriteTo(msg, dst); err != nil {
			t.Fatalf("send %v: %v", typ, err)
		}
	}
}
