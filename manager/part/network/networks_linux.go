package network

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// ensureNetwork makes a network's host devices, or finds them there.
func ensureNetwork(o netvirt.Owner, nw *api.Network) error {
	switch nw.Type {
	case api.NetworkMacvlan:
		return netvirt.CheckParent(nw.Parent)
	case api.NetworkBridge, api.NetworkVXLAN:
		var gw netip.Prefix
		if nw.Type == api.NetworkBridge && nw.Subnet != "" && nw.Gateway != "" {
			sub, _ := netvirt.ParseSubnet(nw.Subnet)
			gw = netip.PrefixFrom(netip.MustParseAddr(nw.Gateway), sub.Bits())
		}
		if err := o.EnsureBridge(nw.Bridge, gw, nw.MTU, nw.VLANFiltering); err != nil {
			return err
		}
		if nw.Uplink != "" {
			if err := netvirt.EnsureUplink(nw.Bridge, nw.Uplink); err != nil {
				return err
			}
		}
		if nw.Type == api.NetworkVXLAN {
			return o.EnsureVXLAN(netvirt.VXLANName(nw.Name), nw.Bridge, nw.VNI, nw.Remote, nw.Group, nw.Dev, nw.MTU)
		}
		if nw.NAT {
			return netvirt.EnableForwarding()
		}
	}
	return nil
}

// teardownNetwork removes a network's host devices.
func teardownNetwork(nw *api.Network) {
	if nw.Type == api.NetworkVXLAN {
		_ = netvirt.DeleteLink(netvirt.VXLANName(nw.Name))
	}
	if nw.Bridge != "" {
		_ = netvirt.DeleteLink(nw.Bridge)
	}
	if nw.Type == api.NetworkMacvlan {
		_ = netvirt.DeleteVLANDevices(nw.Parent)
	}
}

// checkNetwork validates a create request and fills its defaults.
func checkNetwork(o netvirt.Owner, nw api.Network) (api.Network, error) {
	nw.UsedBy = nil
	if nw.Type == "" {
		nw.Type = api.NetworkBridge
	}
	bad := func(field, format string, a ...any) (api.Network, error) {
		return api.Network{}, errdefs.WithField(field, fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalid)...))
	}
	switch nw.Type {
	case api.NetworkBridge, api.NetworkVXLAN:
		nw.Bridge = o.BridgeName(nw.Name)
		if nw.Parent != "" {
			return bad("parent", "a %s network has no parent (that is for macvlan)", nw.Type)
		}
	case api.NetworkMacvlan:
		if err := netvirt.CheckParent(nw.Parent); err != nil {
			return api.Network{}, errdefs.WithField("parent", err)
		}
		if nw.NAT || nw.VLANFiltering || nw.Uplink != "" {
			return bad("type", "NAT, VLAN filtering and uplinks are for bridge networks")
		}
		if nw.HostAccess != "" && nw.HostAccess != "none" {
			return bad("host_access", "host access is for bridge and vxlan networks (macvlan zones cannot reach their parent's host)")
		}
		nw.Bridge = ""
	default:
		return bad("type", "network type %q is not bridge, macvlan or vxlan", nw.Type)
	}
	if nw.Type == api.NetworkVXLAN {
		if nw.VNI < 1 || nw.VNI > 1<<24-1 {
			return bad("vni", "VNI %d is outside 1-16777215", nw.VNI)
		}
		if (nw.Remote == "") == (nw.Group == "") {
			return bad("remote", "a vxlan network needs exactly one of remote and group")
		}
		for f, v := range map[string]string{"remote": nw.Remote, "group": nw.Group} {
			if a, err := netip.ParseAddr(v); v != "" && (err != nil || (f == "group" && !a.IsMulticast()) || (f == "remote" && a.IsMulticast())) {
				return bad(f, "%s %q is not a %s IP address", f, v, map[string]string{"remote": "unicast", "group": "multicast"}[f])
			}
		}
		if nw.Dev != "" {
			if err := netvirt.CheckParent(nw.Dev); err != nil {
				return api.Network{}, errdefs.WithField("dev", err)
			}
		}
		if nw.NAT {
			return bad("nat", "NAT is for bridge networks")
		}
	} else if nw.VNI != 0 || nw.Remote != "" || nw.Group != "" || nw.Dev != "" {
		return bad("vni", "vni, remote, group and dev are for vxlan networks")
	}
	if nw.Uplink != "" {
		if err := netvirt.CheckParent(nw.Uplink); err != nil {
			return api.Network{}, errdefs.WithField("uplink", err)
		}
	}
	if nw.Subnet != "" {
		sub, err := netvirt.ParseSubnet(nw.Subnet)
		if err != nil {
			return api.Network{}, errdefs.WithField("subnet", err)
		}
		nw.Subnet = sub.String()
		if nw.Gateway == "" && nw.Type == api.NetworkBridge {
			nw.Gateway = netvirt.FirstHost(sub).String()
		}
		if nw.Gateway != "" {
			gw, err := netip.ParseAddr(nw.Gateway)
			if err != nil || !sub.Contains(gw) {
				return bad("gateway", "gateway %q is not an address in subnet %s", nw.Gateway, sub)
			}
		}
	} else if nw.NAT {
		return bad("nat", "NAT needs a subnet")
	} else if nw.Gateway != "" {
		if _, err := netip.ParseAddr(nw.Gateway); err != nil {
			return bad("gateway", "gateway %q is not an IP address", nw.Gateway)
		}
	}
	for _, d := range nw.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return bad("dns", "nameserver %q is not an IP address", d)
		}
	}
	if nw.MTU != 0 && (nw.MTU < 576 || nw.MTU > 65535) {
		return bad("mtu", "MTU %d is outside 576-65535", nw.MTU)
	}
	ha, err := netvirt.ParseHostAccess(nw.HostAccess)
	if err != nil {
		return api.Network{}, errdefs.WithField("host_access", fmt.Errorf("%w: %w", err, errdefs.ErrInvalid))
	}
	nw.HostAccess = ha
	return nw, nil
}

// CreateNetwork checks and stores a network and makes its host devices.
// The caller has checked its name.
func (p *Part) CreateNetwork(req api.Network) (*api.Network, error) {
	nw, err := checkNetwork(p.owner, req)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := revert.New()
	defer r.Fail()
	var subnet netip.Prefix
	if nw.Subnet != "" {
		subnet = netip.MustParsePrefix(nw.Subnet)
	}
	rec := &store.NetworkRecord{Network: nw, CreatedAt: time.Now().UTC()}
	err = p.host.Store().CreateNetwork(rec, func(others []*store.NetworkRecord) error {
		for _, o := range others {
			if o.Subnet != "" && subnet.IsValid() && netvirt.Overlaps(subnet, netip.MustParsePrefix(o.Subnet)) {
				return errdefs.WithField("subnet", fmt.Errorf("subnet %s overlaps network %q's %s: %w", subnet, o.Name, o.Subnet, errdefs.ErrConflict))
			}
			if nw.Type == api.NetworkVXLAN && o.Type == api.NetworkVXLAN && o.VNI == nw.VNI {
				return errdefs.WithField("vni", fmt.Errorf("VNI %d is network %q's: %w", nw.VNI, o.Name, errdefs.ErrConflict))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Add(func() { _ = p.host.Store().DeleteNetwork(nw.Name, func([]*store.ZoneRecord) error { return nil }) })
	r.Add(func() { teardownNetwork(&nw) })
	if err := ensureNetwork(p.owner, &nw); err != nil {
		return nil, err
	}
	// The host-access rules are in place before a zone can be on the
	// bridge.
	r.Add(func() { _ = p.rebuildHostAccess() })
	if err := p.rebuildHostAccess(); err != nil {
		return nil, err
	}
	if nw.NAT {
		r.Add(func() { _ = p.rebuildNAT() })
		if err := p.rebuildNAT(); err != nil {
			return nil, err
		}
	}
	r.Success()
	p.host.Logger().Info("network created", "network", nw.Name, "type", nw.Type)
	return &nw, nil
}

// networkToAPI is a network with the NICs of zones that use it.
func networkToAPI(rec *store.NetworkRecord, zones []*store.ZoneRecord) *api.Network {
	nw := rec.Network
	nw.UsedBy = nil
	for _, z := range zones {
		for _, nic := range z.NICs {
			if nic.Network == nw.Name {
				nw.UsedBy = append(nw.UsedBy, z.Name+"/"+nic.Name)
			}
		}
	}
	return &nw
}

// ListNetworks returns every network with the NICs that use it.
func (p *Part) ListNetworks() ([]api.Network, error) {
	nets, err := p.host.Store().ListNetworks()
	if err != nil {
		return nil, err
	}
	zones, err := p.host.Store().ListZones()
	if err != nil {
		return nil, err
	}
	out := make([]api.Network, 0, len(nets))
	for _, n := range nets {
		out = append(out, *networkToAPI(n, zones))
	}
	return out, nil
}

// GetNetwork returns one network.
func (p *Part) GetNetwork(name string) (*api.Network, error) {
	rec, err := p.host.Store().GetNetwork(name)
	if err != nil {
		return nil, err
	}
	zones, err := p.host.Store().ListZones()
	if err != nil {
		return nil, err
	}
	return networkToAPI(rec, zones), nil
}

// DeleteNetwork removes a network no NIC uses, and its host devices.
func (p *Part) DeleteNetwork(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := p.host.Store().GetNetwork(name)
	if err != nil {
		return err
	}
	err = p.host.Store().DeleteNetwork(name, func(zones []*store.ZoneRecord) error {
		if used := networkToAPI(rec, zones).UsedBy; len(used) > 0 {
			return fmt.Errorf("NICs %s use it: %w", strings.Join(used, ", "), errdefs.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return err
	}
	teardownNetwork(&rec.Network)
	if err := p.rebuildHostAccess(); err != nil {
		return err
	}
	if rec.NAT {
		if err := p.rebuildNAT(); err != nil {
			return err
		}
	}
	p.host.Logger().Info("network deleted", "network", name)
	return nil
}

// rebuildHostAccess writes what zones may reach on the host, for every
// bridge and vxlan network, from the store.
func (p *Part) rebuildHostAccess() error {
	nets, err := p.host.Store().ListNetworks()
	if err != nil {
		return err
	}
	var access []netvirt.HostAccess
	for _, nw := range nets {
		if nw.Bridge == "" {
			continue
		}
		a := netvirt.HostAccess{Bridge: nw.Bridge}
		switch nw.HostAccess {
		case "", "none":
		case "all":
			a.All = true
		default:
			a.Ports = strings.Split(nw.HostAccess, ",")
		}
		access = append(access, a)
	}
	return p.owner.SetHostAccess(access)
}
