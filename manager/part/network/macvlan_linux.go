package network

import (
	"fmt"
	"log/slog"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

// macvlanType is a host interface (the parent) that zones' NICs sit on
// as macvlans, a NIC with a VLAN on the parent's 802.1Q sub-interface.
// The host keeps no device of a NIC's, so there are no anti-spoofing
// rules, rate caps or host access: the traffic bypasses the host.
type macvlanType struct{}

func (macvlanType) check(o netvirt.Owner, nw *api.Network) error {
	if err := netvirt.CheckParent(nw.Parent); err != nil {
		return errdefs.WithField("parent", err)
	}
	if nw.NAT || nw.VLANFiltering || nw.Uplink != "" {
		return invalid("type", "NAT, VLAN filtering and uplinks are for bridge networks")
	}
	if nw.HostAccess != "" && nw.HostAccess != "none" {
		return invalid("host_access", "host access is for bridge and vxlan networks (macvlan zones cannot reach their parent's host)")
	}
	nw.Bridge = ""
	return refuseVXLAN(nw)
}

func (macvlanType) gatewayOnHost() bool { return false }

func (macvlanType) conflict(nw, other *api.Network) error { return nil }

// setUp finds the parent: zoned makes nothing for the network itself.
func (macvlanType) setUp(o netvirt.Owner, nw *api.Network) error {
	return netvirt.CheckParent(nw.Parent)
}

// tearDown removes the parent's 802.1Q sub-interfaces, which the
// network's NICs shared.
func (macvlanType) tearDown(nw *api.Network) {
	_ = netvirt.DeleteVLANDevices(nw.Parent)
}

// links is empty: the 802.1Q sub-interfaces are kept by their names
// (netvirt.IsVLANName) as long as their network stands.
func (macvlanType) links(nw *api.Network) []string { return nil }

func (macvlanType) hostSide() bool { return false }

func (macvlanType) checkVLAN(nw *api.Network) error {
	if err := netvirt.Has8021Q(); err != nil {
		return fmt.Errorf("vlan: %w", err)
	}
	return nil
}

// plug makes a macvlan on the parent, or on its 802.1Q sub-interface
// for the NIC's VLAN, inside the zone: the VLAN is the sub-interface's,
// not the NIC's.
func (macvlanType) plug(o netvirt.Owner, nw *api.Network, nic netvirt.NIC, pid int) error {
	parent := nw.Parent
	if nic.VLAN > 0 {
		var err error
		if parent, err = o.EnsureVLANDevice(nw.Parent, nic.VLAN); err != nil {
			return err
		}
	}
	nic.VLAN = 0
	return netvirt.AttachMacvlan(pid, parent, nic)
}

// restoreNIC has nothing to do: a macvlan NIC has no host side.
func (macvlanType) restoreNIC(log *slog.Logger, zone string, nw *api.Network, nic api.NIC) {}
