package network

import (
	"fmt"
	"net/netip"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// rebuildNAT writes the NAT table from the store.
func (p *Part) rebuildNAT() error {
	nets, err := p.host.Store().ListNetworks()
	if err != nil {
		return err
	}
	var natNets []netvirt.NATNet
	for _, nw := range nets {
		if nw.NAT {
			natNets = append(natNets, netvirt.NATNet{Subnet: nw.Subnet, Bridge: nw.Bridge})
		}
	}
	fwds, err := p.host.Store().ListPortForwards()
	if err != nil {
		return err
	}
	var rules []netvirt.Forward
	for _, f := range fwds {
		addr := p.forwardAddress(f.Zone)
		if addr == "" {
			continue
		}
		rules = append(rules, netvirt.Forward{Protocol: f.Protocol, HostPort: f.HostPort, Addr: addr, ZonePort: f.ZonePort})
	}
	if len(rules) > 0 {
		if err := netvirt.EnableForwarding(); err != nil {
			return err
		}
	}
	return p.owner.SetNAT(natNets, rules)
}

// forwardAddress is where a zone's port forwards go: its first IPv4
// address on a bridge network.
func (p *Part) forwardAddress(zone string) string {
	rec, err := p.host.Store().GetZone(zone)
	if err != nil {
		return ""
	}
	for _, nic := range rec.NICs {
		if nic.HostIfName != "" && len(nic.IPv4) > 0 {
			if pr, err := netip.ParsePrefix(nic.IPv4[0]); err == nil {
				return pr.Addr().String()
			}
		}
	}
	return ""
}

// AddPortForward forwards a host port into zone rec (TCP unless pf says
// UDP) and returns the forward with the zone's address. The caller holds
// the zone's lock.
func (p *Part) AddPortForward(rec *store.ZoneRecord, pf api.PortForward) (api.PortForward, error) {
	st, zone := p.host.Store(), rec.Name
	if pf.Protocol == "" {
		pf.Protocol = "tcp"
	}
	pf.Zone = zone
	if pf.Protocol != "tcp" && pf.Protocol != "udp" {
		return api.PortForward{}, errdefs.WithField("protocol", fmt.Errorf("protocol %q is not tcp or udp: %w", pf.Protocol, errdefs.ErrInvalid))
	}
	for f, v := range map[string]int{"host_port": pf.HostPort, "zone_port": pf.ZonePort} {
		if v < 1 || v > 65535 {
			return api.PortForward{}, errdefs.WithField(f, fmt.Errorf("port %d is outside 1-65535: %w", v, errdefs.ErrInvalid))
		}
	}
	if pf.Address = p.forwardAddress(zone); pf.Address == "" {
		return api.PortForward{}, fmt.Errorf("zone has no IPv4 address on a bridge network to forward to: %w", errdefs.ErrPrecondition)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := st.AddPortForward(api.PortForward{Zone: zone, HostPort: pf.HostPort, ZonePort: pf.ZonePort, Protocol: pf.Protocol}); err != nil {
		return api.PortForward{}, err
	}
	if err := p.rebuildNAT(); err != nil {
		_ = st.DeletePortForward(zone, pf.Protocol, pf.HostPort)
		_ = p.rebuildNAT()
		return api.PortForward{}, err
	}
	return pf, nil
}

// ListPortForwards returns a zone's port forwards ("" for all zones').
func (p *Part) ListPortForwards(zone string) ([]api.PortForward, error) {
	if zone != "" {
		if _, err := p.host.Store().GetZone(zone); err != nil {
			return nil, err
		}
	}
	fwds, err := p.host.Store().ListPortForwards()
	if err != nil {
		return nil, err
	}
	out := []api.PortForward{}
	for _, f := range fwds {
		if zone == "" || f.Zone == zone {
			f.Address = p.forwardAddress(f.Zone)
			out = append(out, *f)
		}
	}
	return out, nil
}

// RemovePortForward stops forwarding a host port (TCP unless proto says
// UDP) into zone rec. The caller holds the zone's lock.
func (p *Part) RemovePortForward(rec *store.ZoneRecord, proto string, hostPort int) error {
	if proto == "" {
		proto = "tcp"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.host.Store().DeletePortForward(rec.Name, proto, hostPort); err != nil {
		return err
	}
	return p.rebuildNAT()
}
