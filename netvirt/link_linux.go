package netvirt

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
)

// NIC is what netvirt needs to plug one NIC into a running zone.
type NIC struct {
	// Name is the interface's name inside the zone (eth0).
	Name string
	// HostIf is the host side of a veth (bridge and vxlan networks).
	HostIf string
	MAC    string
	MTU    int
	IPv4   []string
	IPv6   []string
	// Gateway is the default route's next hop, "" for none.
	Gateway string
	VLAN    int
}

// Links are made with "exists is fine": two zones starting at once on a
// network whose bridge a reboot removed both try to make it.

// linkByName returns the link, or nil when there is none.
func linkByName(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}

// LinkExists tells whether a host interface exists.
func LinkExists(name string) bool {
	l, err := linkByName(name)
	return err == nil && l != nil
}

// CheckParent checks that a parent or underlay interface exists on the
// host.
func CheckParent(name string) error {
	if name == "" {
		return fmt.Errorf("no parent interface given: %w", errdefs.ErrInvalid)
	}
	if !LinkExists(name) {
		return fmt.Errorf("parent interface %q does not exist on this host: %w", name, errdefs.ErrInvalid)
	}
	return nil
}

// DeleteLink removes a host link zoned made; a missing one is fine.
func DeleteLink(name string) error {
	l, err := linkByName(name)
	if err != nil || l == nil {
		return err
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// EnsureBridge makes bridge name (or keeps the one there), gives it the
// gateway address when gw is valid, and sets it up. vlanFiltering turns
// on bridge VLAN filtering and fails, naming the kernel option, where
// the kernel has none.
func (o Owner) EnsureBridge(name string, gw netip.Prefix, mtu int, vlanFiltering bool) error {
	l, err := linkByName(name)
	if err != nil {
		return err
	}
	if l == nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if err := o.claim(l); err != nil {
			return err
		}
	} else if l.Attrs().Alias == "" {
		// The network's record names this bridge: one a zoned from
		// before aliases made is claimed.
		if err := o.claim(l); err != nil {
			return err
		}
	}
	if vlanFiltering {
		br, ok := l.(*netlink.Bridge)
		if !ok || br.VlanFiltering == nil || !*br.VlanFiltering {
			if err := setVLANFiltering(l); err != nil {
				return err
			}
		}
	}
	if gw.IsValid() {
		addr := &netlink.Addr{IPNet: prefixToIPNet(gw)}
		if err := netlink.AddrReplace(l, addr); err != nil {
			return fmt.Errorf("give bridge %s address %s: %w", name, gw, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

// vlanFilteringErr names the kernel option when the kernel refused VLAN
// filtering for want of it.
func vlanFilteringErr(err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("bridge VLAN filtering: this kernel lacks CONFIG_BRIDGE_VLAN_FILTERING: %w", errdefs.ErrUnsupported)
	}
	return fmt.Errorf("turn on bridge VLAN filtering: %w", err)
}

// ProbeBridgeVLANFiltering tells whether the kernel can filter VLANs on a
// bridge (CONFIG_BRIDGE_VLAN_FILTERING) by asking it to, on a bridge of
// its own that lives only for the probe: the kernel reports the attribute
// even where it lacks the option, so only trying tells.
func ProbeBridgeVLANFiltering() error {
	name := "zbrp" + shortHash("probe", strconv.Itoa(os.Getpid()), time.Now().String())
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return fmt.Errorf("probe bridge VLAN filtering: %w", err)
	}
	defer DeleteLink(name)
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return setVLANFiltering(l)
}

// setVLANFiltering turns VLAN filtering on. The request names only the
// bridge: the attributes a read-back link carries (hello time and the
// like, in other units) make some kernels refuse the change.
func setVLANFiltering(l netlink.Link) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.Attrs().Name, Index: l.Attrs().Index}}
	if err := netlink.BridgeSetVlanFiltering(br, true); err != nil {
		return vlanFilteringErr(err)
	}
	return nil
}

// Has8021Q tells whether the kernel can make 802.1Q VLAN devices
// (CONFIG_VLAN_8021Q), loading the module if it is one.
func Has8021Q() error {
	_ = exec.Command("modprobe", "-q", "8021q").Run()
	// /proc/net follows the reader's network namespace, and the vlan
	// directory exists once the 8021q code is in the kernel.
	if _, err := os.Stat("/proc/net/vlan"); err != nil {
		return fmt.Errorf("VLAN sub-interfaces: this kernel lacks CONFIG_VLAN_8021Q: %w", errdefs.ErrUnsupported)
	}
	return nil
}

// EnsureUplink enslaves a host interface to the bridge.
func EnsureUplink(bridge, uplink string) error {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("uplink %s: bridge %s: %w", uplink, bridge, err)
	}
	up, err := netlink.LinkByName(uplink)
	if err != nil {
		return fmt.Errorf("uplink %s: %w", uplink, err)
	}
	if up.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(up, br); err != nil {
			return fmt.Errorf("attach uplink %s to %s: %w", uplink, bridge, err)
		}
	}
	return netlink.LinkSetUp(up)
}

// EnsureVXLAN makes the VXLAN device of a vxlan network and attaches it to
// the network's bridge: zones on the bridge then share a segment with
// the remote hosts.
func (o Owner) EnsureVXLAN(name, bridge string, vni int, remote, group, dev string, mtu int) error {
	if l, err := linkByName(name); err != nil {
		return err
	} else if l == nil {
		v := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}, VxlanId: vni, Port: 4789, Learning: true}
		if dev != "" {
			d, err := netlink.LinkByName(dev)
			if err != nil {
				return fmt.Errorf("vxlan device %s: %w", dev, err)
			}
			v.VtepDevIndex = d.Attrs().Index
		}
		switch {
		case remote != "":
			v.Group = net.ParseIP(remote)
		case group != "":
			v.Group = net.ParseIP(group)
		}
		if err := netlink.LinkAdd(v); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create vxlan %s (VNI %d): %w", name, vni, err)
		}
		if err := o.claimName(name); err != nil {
			return err
		}
	}
	return EnsureUplink(bridge, name)
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// zoneHandle opens a netlink handle in the network namespace of pid.
func zoneHandle(pid int) (*netlink.Handle, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("open network namespace of pid %d: %w", pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in network namespace of pid %d: %w", pid, err)
	}
	return h, nil
}

// AttachVeth plugs a NIC into the zone whose init is pid: a veth pair
// whose zone end is made directly in the zone's namespace with its final
// name and MAC, whose host end joins bridge, then addresses and routes
// inside the zone. On error nothing is left.
func (o Owner) AttachVeth(pid int, bridge string, c NIC) (err error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridge, err)
	}
	hw, err := net.ParseMAC(c.MAC)
	if err != nil {
		return fmt.Errorf("MAC %q: %w", c.MAC, err)
	}
	mtu := c.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	v := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: c.HostIf, MTU: mtu},
		PeerName:         c.Name,
		PeerHardwareAddr: hw,
		PeerMTU:          uint32(mtu),
		PeerNamespace:    netlink.NsPid(pid),
	}
	err = netlink.LinkAdd(v)
	if errors.Is(err, unix.EEXIST) {
		// The host name is derived from the zone's UUID and the NIC's
		// name, so a link by that name is this very NIC's, left by an
		// attach a crash cut short: it goes, and the NIC is made anew.
		if l, lerr := linkByName(c.HostIf); lerr == nil && l != nil && o.mine(l) {
			if err = netlink.LinkDel(l); err == nil {
				err = netlink.LinkAdd(v)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("create veth %s: %w", c.HostIf, err)
	}
	defer func() {
		if err != nil {
			_ = DeleteLink(c.HostIf)
		}
	}()
	host, err := netlink.LinkByName(c.HostIf)
	if err != nil {
		return err
	}
	if err := o.claim(host); err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(host, br); err != nil {
		return fmt.Errorf("attach %s to %s: %w", c.HostIf, bridge, err)
	}
	if c.VLAN > 0 {
		if err := SetPortVLAN(c.HostIf, c.VLAN); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", c.HostIf, err)
	}
	return configureInZone(pid, c)
}

// SetPortVLAN makes vid the untagged PVID of a bridge port, and the only
// VLAN on it.
func SetPortVLAN(port string, vid int) error {
	l, err := netlink.LinkByName(port)
	if err != nil {
		return err
	}
	_ = netlink.BridgeVlanDel(l, 1, true, true, false, true)
	if err := netlink.BridgeVlanAdd(l, uint16(vid), true, true, false, true); err != nil {
		return fmt.Errorf("VLAN %d on port %s: %w", vid, port, err)
	}
	return nil
}

// EnsureVLANDevice makes the 802.1Q sub-interface of parent for vid.
func (o Owner) EnsureVLANDevice(parent string, vid int) (string, error) {
	name := VLANName(parent, vid)
	if l, err := linkByName(name); err != nil || l != nil {
		return name, err
	}
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return "", fmt.Errorf("parent %s: %w", parent, err)
	}
	v := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: p.Attrs().Index}, VlanId: vid}
	if err := netlink.LinkAdd(v); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("create VLAN %d on %s: %w", vid, parent, err)
	}
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = o.claim(l)
	}
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	return name, err
}

// AttachMacvlan plugs a macvlan NIC on parent (bridge mode, so zones on
// one parent reach each other) into the zone whose init is pid.
func AttachMacvlan(pid int, parent string, c NIC) error {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return fmt.Errorf("parent %s: %w", parent, err)
	}
	hw, err := net.ParseMAC(c.MAC)
	if err != nil {
		return fmt.Errorf("MAC %q: %w", c.MAC, err)
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: c.Name, ParentIndex: p.Attrs().Index, HardwareAddr: hw, MTU: c.MTU, Namespace: netlink.NsPid(pid)},
		Mode:      netlink.MACVLAN_MODE_BRIDGE,
	}
	if err := netlink.LinkAdd(mv); err != nil {
		return fmt.Errorf("create macvlan %s on %s: %w", c.Name, parent, err)
	}
	if err := configureInZone(pid, c); err != nil {
		_ = DetachInZone(pid, c.Name)
		return err
	}
	return nil
}

// DetachInZone deletes a zone's interface from inside its namespace.
func DetachInZone(pid int, name string) error {
	h, err := zoneHandle(pid)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	return h.LinkDel(l)
}

// configureInZone gives the zone's interface its addresses and default
// route and sets it up, over netlink in the zone's namespace: the guest
// needs no DHCP client.
func configureInZone(pid int, c NIC) error {
	h, err := zoneHandle(pid)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName(c.Name)
	if err != nil {
		return fmt.Errorf("find %s in the zone: %w", c.Name, err)
	}
	// The link-local address comes from the MAC (EUI-64), as the port's
	// anti-spoofing rules expect, whatever the namespace's default says.
	if err := h.LinkSetIP6AddrGenMode(l, 0); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return fmt.Errorf("link-local address mode of %s: %w", c.Name, err)
	}
	for _, s := range append(append([]string{}, c.IPv4...), c.IPv6...) {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("address %q: %w", s, err)
		}
		// No duplicate address detection: zoned owns the addresses,
		// and a tentative IPv6 address would not work for a second.
		a.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", s, c.Name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", c.Name, err)
	}
	if c.Gateway != "" {
		gw := net.ParseIP(c.Gateway)
		if err := h.RouteReplace(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
			return fmt.Errorf("default route via %s on %s: %w", c.Gateway, c.Name, err)
		}
	}
	return nil
}

// EnableForwarding turns on IPv4 forwarding in the daemon's network
// namespace, which NAT needs.
func EnableForwarding() error {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

// DeleteVLANDevices removes the 802.1Q sub-interfaces zoned made on
// parent (zxq…), when the macvlan network on it goes.
func DeleteVLANDevices(parent string) error {
	p, err := linkByName(parent)
	if err != nil || p == nil {
		return err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		if v, ok := l.(*netlink.Vlan); ok && v.ParentIndex == p.Attrs().Index && IsVLANName(v.Name) {
			if err := netlink.LinkDel(l); err != nil {
				return fmt.Errorf("delete %s: %w", v.Name, err)
			}
		}
	}
	return nil
}

// claim writes the owner's alias on a link it just made.
func (o Owner) claim(l netlink.Link) error {
	if err := netlink.LinkSetAlias(l, o.Alias()); err != nil {
		return fmt.Errorf("mark %s as zoned's: %w", l.Attrs().Name, err)
	}
	return nil
}

func (o Owner) claimName(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("mark %s as zoned's: %w", name, err)
	}
	return o.claim(l)
}

// mine tells whether l is the owner's: its alias, or none at all on a
// link whose name only the owner derives (a crash between making the link
// and writing the alias leaves it so).
func (o Owner) mine(l netlink.Link) bool {
	a := l.Attrs().Alias
	return a == o.Alias() || a == ""
}

// Sweep deletes every link carrying the owner's alias whose name keep
// does not claim, and returns their names: what a crash left of NICs,
// rate caps and networks no record names any more. Links of other
// daemons (another alias) and of no daemon (none) are not touched.
func (o Owner) Sweep(keep func(name string) bool) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var gone []string
	var errs []error
	for _, l := range links {
		name := l.Attrs().Name
		if l.Attrs().Alias != o.Alias() || keep(name) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
			continue
		}
		gone = append(gone, name)
	}
	return gone, errors.Join(errs...)
}

// OwnedLinks lists the names of the links carrying the owner's alias.
func (o Owner) OwnedLinks() ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().Alias == o.Alias() {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// Adopt writes the owner's alias on a link of its that has none (made by
// a zoned from before aliases); a link with another alias is left alone.
func (o Owner) Adopt(name string) {
	if l, err := linkByName(name); err == nil && l != nil && l.Attrs().Alias == "" {
		_ = o.claim(l)
	}
}
