package network

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

// bridgeType is a bridge zoned makes (zbr…), which holds the gateway
// address, with optional NAT out of the host, VLAN filtering and an
// uplink. Each NIC is a veth whose host end is a port of the bridge, its
// VLAN the port's untagged PVID.
type bridgeType struct{}

func (bridgeType) check(o netvirt.Owner, nw *api.Network) error {
	if err := nameBridge(o, nw); err != nil {
		return err
	}
	return refuseVXLAN(nw)
}

func (bridgeType) gatewayOnHost() bool { return true }

func (bridgeType) conflict(nw, other *api.Network) error { return nil }

func (bridgeType) setUp(o netvirt.Owner, nw *api.Network) error {
	var gw netip.Prefix
	if nw.Subnet != "" && nw.Gateway != "" {
		sub, _ := netvirt.ParseSubnet(nw.Subnet)
		gw = netip.PrefixFrom(netip.MustParseAddr(nw.Gateway), sub.Bits())
	}
	if err := ensureBridge(o, nw, gw); err != nil {
		return err
	}
	if nw.NAT {
		return netvirt.EnableForwarding()
	}
	return nil
}

func (bridgeType) tearDown(nw *api.Network) {
	if nw.Bridge != "" {
		_ = netvirt.DeleteLink(nw.Bridge)
	}
}

func (bridgeType) links(nw *api.Network) []string { return []string{nw.Bridge} }

func (bridgeType) hostSide() bool { return true }

func (bridgeType) checkVLAN(nw *api.Network) error {
	if err := netvirt.ProbeBridgeVLANFiltering(); err != nil {
		return fmt.Errorf("vlan: %w", err)
	}
	if !nw.VLANFiltering {
		return fmt.Errorf("vlan: network %q has no VLAN filtering (create it with --vlan-filtering): %w", nw.Name, errdefs.ErrInvalid)
	}
	return nil
}

// plug makes a veth whose host end is a port of the bridge (with the
// NIC's VLAN as PVID).
func (bridgeType) plug(o netvirt.Owner, nw *api.Network, nic netvirt.NIC, pid int) error {
	return o.AttachVeth(pid, nw.Bridge, nic)
}

func (bridgeType) restoreNIC(log *slog.Logger, zone string, nw *api.Network, nic api.NIC) {
	restoreBridgePort(log, zone, nw, nic)
}

// nameBridge names the bridge zoned makes for a bridge or vxlan
// network, whose NICs hang from it and not from a parent.
func nameBridge(o netvirt.Owner, nw *api.Network) error {
	nw.Bridge = o.BridgeName(nw.Name)
	return refuseParent(nw)
}

// ensureBridge makes the bridge of a bridge or vxlan network, holding
// gw if valid, with its uplink.
func ensureBridge(o netvirt.Owner, nw *api.Network, gw netip.Prefix) error {
	if err := o.EnsureBridge(nw.Bridge, gw, nw.MTU, nw.VLANFiltering); err != nil {
		return err
	}
	if nw.Uplink != "" {
		return netvirt.EnsureUplink(nw.Bridge, nw.Uplink)
	}
	return nil
}

// restoreBridgePort makes a NIC's veth a port of its network's bridge
// again, with its VLAN: a bridge made anew (after a host reboot or a
// bridge deleted behind zoned's back) has no ports.
func restoreBridgePort(log *slog.Logger, zone string, nw *api.Network, nic api.NIC) {
	if err := netvirt.EnsureUplink(nw.Bridge, nic.HostIfName); err != nil {
		log.Warn("reattach NIC to bridge", "zone", zone, "nic", nic.Name, "err", err)
	} else if nic.VLAN > 0 {
		if err := netvirt.SetPortVLAN(nic.HostIfName, nic.VLAN); err != nil {
			log.Warn("restore NIC's VLAN", "zone", zone, "nic", nic.Name, "err", err)
		}
	}
}
