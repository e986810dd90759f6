package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// resolveNIC turns a request into a NIC of zone rec: name, MAC,
// addresses, gateway, host interface. others are the zone's NICs so far.
// It reserves what it takes; the caller releases on failure or after
// the record is saved. Callers hold p.mu.
func (p *Part) resolveNIC(rec *store.ZoneRecord, req api.NICRequest, others []api.NIC) (api.NIC, error) {
	if err := checkNICRequest(req); err != nil {
		return api.NIC{}, err
	}
	nw, err := p.host.Store().GetNetwork(req.Network)
	if err != nil {
		return api.NIC{}, err
	}
	nic := api.NIC{Network: nw.Name, IPv6: req.IPv6, MTU: req.MTU, VLAN: req.VLAN, RateBitsPerSecond: req.RateBitsPerSecond}
	nic.Name = req.Name
	if nic.Name == "" {
		for i := 0; ; i++ {
			n := "eth" + strconv.Itoa(i)
			if !slices.ContainsFunc(others, func(o api.NIC) bool { return o.Name == n }) {
				nic.Name = n
				break
			}
		}
	}
	if slices.ContainsFunc(others, func(o api.NIC) bool { return o.Name == nic.Name }) {
		return api.NIC{}, fmt.Errorf("zone already has a NIC %s: %w", nic.Name, errdefs.ErrAlreadyExists)
	}
	t, err := typeOf(&nw.Network)
	if err != nil {
		return api.NIC{}, err
	}
	if nic.VLAN > 0 {
		if err := t.checkVLAN(&nw.Network); err != nil {
			return api.NIC{}, err
		}
	}
	zones, err := p.host.Store().ListZones()
	if err != nil {
		return api.NIC{}, err
	}
	// What every other NIC (and every pending reservation) holds.
	taken := map[string]string{}
	for k, v := range p.reserved {
		taken[k] = v
	}
	for _, z := range zones {
		for _, o := range z.NICs {
			owner := z.Name + "/" + o.Name
			taken["mac/"+o.MAC] = owner
			for _, a := range append(append([]string{}, o.IPv4...), o.IPv6...) {
				if pr, err := netip.ParsePrefix(a); err == nil {
					taken[o.Network+"/"+pr.Addr().String()] = owner
				}
			}
		}
	}
	for _, o := range others {
		taken["mac/"+o.MAC] = rec.Name + "/" + o.Name
		for _, a := range append(append([]string{}, o.IPv4...), o.IPv6...) {
			if pr, err := netip.ParsePrefix(a); err == nil {
				taken[o.Network+"/"+pr.Addr().String()] = rec.Name + "/" + o.Name
			}
		}
	}
	if req.MAC != "" {
		nic.MAC, _ = netvirt.ParseMAC(req.MAC)
	} else {
		nic.MAC = netvirt.StableMAC(rec.UUID, nic.Name)
	}
	if owner, ok := taken["mac/"+nic.MAC]; ok {
		return api.NIC{}, fmt.Errorf("MAC %s is already used by %s: %w", nic.MAC, owner, errdefs.ErrConflict)
	}
	var subnet netip.Prefix
	var gw netip.Addr
	if nw.Subnet != "" {
		subnet, _ = netvirt.ParseSubnet(nw.Subnet)
		gw, _ = netip.ParseAddr(nw.Gateway)
	}
	for _, a := range req.IPv4 {
		if a == "auto" {
			if !subnet.IsValid() {
				return api.NIC{}, fmt.Errorf("ip auto: network %q has no subnet: %w", nw.Name, errdefs.ErrInvalid)
			}
			a, err = netvirt.NextFree(subnet, gw, func(x netip.Addr) bool { _, ok := taken[nw.Name+"/"+x.String()]; return ok })
			if err != nil {
				return api.NIC{}, fmt.Errorf("network %q: %w", nw.Name, err)
			}
		}
		pr, err := netvirt.CheckHostAddr(a, subnet, gw)
		if err != nil {
			return api.NIC{}, err
		}
		if owner, ok := taken[nw.Name+"/"+pr.Addr().String()]; ok {
			return api.NIC{}, fmt.Errorf("address %s is already used by %s: %w", pr.Addr(), owner, errdefs.ErrConflict)
		}
		taken[nw.Name+"/"+pr.Addr().String()] = rec.Name + "/" + nic.Name
		nic.IPv4 = append(nic.IPv4, pr.String())
	}
	for _, a := range req.IPv6 {
		pr, _ := netvirt.ParseIPv6(a)
		if owner, ok := taken[nw.Name+"/"+pr.Addr().String()]; ok {
			return api.NIC{}, fmt.Errorf("address %s is already used by %s: %w", pr.Addr(), owner, errdefs.ErrConflict)
		}
	}
	nic.Gateway = req.Gateway
	hasDefault := slices.ContainsFunc(others, func(o api.NIC) bool { return o.Gateway != "" })
	if nic.Gateway == "" && !hasDefault && len(nic.IPv4) > 0 && nw.Gateway != "" {
		nic.Gateway = nw.Gateway
	}
	if t.hostSide() {
		nic.HostIfName = netvirt.HostIfName(rec.UUID, nic.Name)
	} else if nic.RateBitsPerSecond > 0 {
		return api.NIC{}, fmt.Errorf("rate caps need a bridge or vxlan NIC (macvlan traffic bypasses the host's shaping): %w", errdefs.ErrUnsupported)
	}
	// Reserve until the record is saved.
	p.reserve(rec.Name, nic)
	return nic, nil
}

func nicKeys(nic api.NIC) []string {
	keys := []string{"mac/" + nic.MAC}
	for _, a := range append(append([]string{}, nic.IPv4...), nic.IPv6...) {
		if pr, err := netip.ParsePrefix(a); err == nil {
			keys = append(keys, nic.Network+"/"+pr.Addr().String())
		}
	}
	return keys
}

func (p *Part) reserve(zone string, nic api.NIC) {
	for _, k := range nicKeys(nic) {
		p.reserved[k] = zone + "/" + nic.Name
	}
}

func (p *Part) release(nics ...api.NIC) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, nic := range nics {
		for _, k := range nicKeys(nic) {
			delete(p.reserved, k)
		}
	}
}
