package network

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

// vxlanType is a VXLAN segment: a bridge zoned makes (without an
// address or NAT) with a VXLAN device as a port, towards one unicast
// remote or a multicast group. NICs are veths on the bridge, as on a
// bridge network, without VLANs.
type vxlanType struct{}

func (vxlanType) check(o netvirt.Owner, nw *api.Network) error {
	if err := nameBridge(o, nw); err != nil {
		return err
	}
	if nw.VNI < 1 || nw.VNI > 1<<24-1 {
		return invalid("vni", "VNI %d is outside 1-16777215", nw.VNI)
	}
	if (nw.Remote == "") == (nw.Group == "") {
		return invalid("remote", "a vxlan network needs exactly one of remote and group")
	}
	for f, v := range map[string]string{"remote": nw.Remote, "group": nw.Group} {
		if a, err := netip.ParseAddr(v); v != "" && (err != nil || (f == "group" && !a.IsMulticast()) || (f == "remote" && a.IsMulticast())) {
			return invalid(f, "%s %q is not a %s IP address", f, v, map[string]string{"remote": "unicast", "group": "multicast"}[f])
		}
	}
	if nw.Dev != "" {
		if err := netvirt.CheckParent(nw.Dev); err != nil {
			return errdefs.WithField("dev", err)
		}
	}
	if nw.NAT {
		return invalid("nat", "NAT is for bridge networks")
	}
	return nil
}

// gatewayOnHost is false: the gateway of a segment is elsewhere on it.
func (vxlanType) gatewayOnHost() bool { return false }

// conflict refuses a second network with one VNI: the kernel would
// carry both segments' traffic on one.
func (vxlanType) conflict(nw, other *api.Network) error {
	if other.Type == api.NetworkVXLAN && other.VNI == nw.VNI {
		return errdefs.WithField("vni", fmt.Errorf("VNI %d is network %q's: %w", nw.VNI, other.Name, errdefs.ErrConflict))
	}
	return nil
}

func (vxlanType) setUp(o netvirt.Owner, nw *api.Network) error {
	if err := ensureBridge(o, nw, netip.Prefix{}); err != nil {
		return err
	}
	return o.EnsureVXLAN(netvirt.VXLANName(nw.Name), nw.Bridge, nw.VNI, nw.Remote, nw.Group, nw.Dev, nw.MTU)
}

func (vxlanType) tearDown(nw *api.Network) {
	_ = netvirt.DeleteLink(netvirt.VXLANName(nw.Name))
	if nw.Bridge != "" {
		_ = netvirt.DeleteLink(nw.Bridge)
	}
}

func (vxlanType) links(nw *api.Network) []string {
	return []string{nw.Bridge, netvirt.VXLANName(nw.Name)}
}

func (vxlanType) hostSide() bool { return true }

func (vxlanType) checkVLAN(nw *api.Network) error {
	return fmt.Errorf("vlan: a %s network carries no VLANs: %w", nw.Type, errdefs.ErrInvalid)
}

// plug makes a veth whose host end is a port of the segment's bridge.
func (vxlanType) plug(o netvirt.Owner, nw *api.Network, nic netvirt.NIC, pid int) error {
	return o.AttachVeth(pid, nw.Bridge, nic)
}

func (vxlanType) restoreNIC(log *slog.Logger, zone string, nw *api.Network, nic api.NIC) {
	restoreBridgePort(log, zone, nw, nic)
}
