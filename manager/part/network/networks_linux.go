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

// checkNetwork validates a create request and fills its defaults: its
// type's fields first (see networkType), then those of every network.
func checkNetwork(o netvirt.Owner, nw api.Network) (api.Network, error) {
	nw.UsedBy = nil
	if nw.Type == "" {
		nw.Type = api.NetworkBridge
	}
	bad := func(field, format string, a ...any) (api.Network, error) {
		return api.Network{}, invalid(field, format, a...)
	}
	t, err := typeOf(&nw)
	if err != nil {
		return api.Network{}, err
	}
	if err := t.check(o, &nw); err != nil {
		return api.Network{}, err
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
		if nw.Gateway == "" && t.gatewayOnHost() {
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
	t := networkTypes[nw.Type]
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
			if err := t.conflict(&nw, &o.Network); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Add(func() { _ = p.host.Store().DeleteNetwork(nw.Name, func([]*store.ZoneRecord) error { return nil }) })
	r.Add(func() { t.tearDown(&nw) })
	if err := t.setUp(p.owner, &nw); err != nil {
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
	if t, err := typeOf(&rec.Network); err == nil {
		t.tearDown(&rec.Network)
	} else if rec.Bridge != "" {
		// A type this daemon does not know (a record of a newer
		// zoned): the bridge the record names is all it can remove.
		_ = netvirt.DeleteLink(rec.Bridge)
	}
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
