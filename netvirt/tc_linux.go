package netvirt

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetRate caps a NIC at bps bits per second each way, or removes the caps
// when bps is 0. Traffic into the zone leaves the host through hostIf,
// so an HTB qdisc on hostIf's egress shapes it. Traffic out of the zone
// enters the host on hostIf, where only policing is possible (and this
// kernel has no police action), so an ingress qdisc redirects it to the
// NIC's ifb device (IFBName), whose egress HTB shapes it as well. Changing the rate
// replaces the classes in place: live, without dropping the NIC.
func (o Owner) SetRate(hostIf string, bps int64) error {
	ifb := IFBName(hostIf)
	host, err := netlink.LinkByName(hostIf)
	if err != nil {
		return fmt.Errorf("rate on %s: %w", hostIf, err)
	}
	if bps == 0 {
		clearQdiscs(host)
		return DeleteLink(ifb)
	}
	if err := htb(host, bps); err != nil {
		return fmt.Errorf("cap traffic into the zone on %s: %w", hostIf, err)
	}
	ifbLink, err := linkByName(ifb)
	if err != nil {
		return err
	}
	if ifbLink == nil {
		if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: ifb, TxQLen: 1000}}); err != nil {
			return fmt.Errorf("create ifb %s: %w", ifb, err)
		}
		if ifbLink, err = netlink.LinkByName(ifb); err != nil {
			return err
		}
		if err := o.claim(ifbLink); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(ifbLink); err != nil {
		return fmt.Errorf("set %s up: %w", ifb, err)
	}
	if err := htb(ifbLink, bps); err != nil {
		return fmt.Errorf("cap traffic out of the zone on %s: %w", ifb, err)
	}
	ingress := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: host.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscAdd(ingress); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("ingress qdisc on %s: %w", hostIf, err)
	}
	filter := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: host.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0), Priority: 1, Protocol: unix.ETH_P_ALL},
		Sel:         &netlink.TcU32Sel{Flags: netlink.TC_U32_TERMINAL, Keys: []netlink.TcU32Key{{Mask: 0, Val: 0}}},
		Actions:     []netlink.Action{netlink.NewMirredAction(ifbLink.Attrs().Index)},
	}
	if err := netlink.FilterReplace(filter); err != nil {
		return fmt.Errorf("redirect %s to %s: %w", hostIf, ifb, err)
	}
	return nil
}

// htb puts one HTB class at bps on link's egress, the default for all
// traffic.
func htb(link netlink.Link, bps int64) error {
	idx := link.Attrs().Index
	q := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	q.Defcls = 1
	// A root HTB zoned put there stays, so a rate change only replaces
	// the class: the kernel refuses to replace an HTB qdisc in place.
	if err := netlink.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	// A burst of 10 ms at the rate, and at least one 64 KiB segment:
	// veths pass GSO packets that large, and a smaller bucket would let
	// each through only by borrowing from the future and cap too low.
	burst := uint32(max(bps/8/100, 70000))
	c := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(1, 0), Handle: netlink.MakeHandle(1, 1)},
		netlink.HtbClassAttrs{Rate: uint64(bps), Ceil: uint64(bps), Buffer: burst, Cbuffer: burst})
	return netlink.ClassReplace(c)
}

// clearQdiscs removes the root and ingress qdiscs zoned put on link.
func clearQdiscs(link netlink.Link) {
	idx := link.Attrs().Index
	_ = netlink.QdiscDel(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}})
	_ = netlink.QdiscDel(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}})
}
