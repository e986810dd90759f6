package network

import (
	"context"
	"fmt"
	"slices"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// loadOwner reads (or makes, on a store's first start) the daemon's
// instance ID, which names its host objects. A store that already had
// networks when it got its ID comes from a daemon older than instance
// IDs, whose tables were named plainly "zoned": they were this daemon's,
// and its predecessor's rules are dropped so the new ones stand alone.
func (p *Part) loadOwner() error {
	id, created, err := p.host.Store().InstanceID(netvirt.NewInstanceID)
	if err != nil {
		return err
	}
	if !netvirt.ValidInstanceID(id) {
		return fmt.Errorf("instance ID %q in the store is not 8 hex digits", id)
	}
	p.owner = netvirt.Owner{ID: id}
	if nets, err := p.host.Store().ListNetworks(); created && err == nil && len(nets) > 0 {
		legacy := netvirt.Owner{}
		if err := legacy.ResetPorts(nil); err != nil {
			p.host.Logger().Warn("remove the anti-spoofing table of an older zoned", "err", err)
		}
		if err := legacy.SetNAT(nil, nil); err != nil {
			p.host.Logger().Warn("remove the NAT table of an older zoned", "err", err)
		}
	}
	return nil
}

// settlePending finishes or undoes the NIC changes a crash cut short:
// a NIC being removed is removed, one being added is taken out again
// (its caller never heard it was made). Either way its host side goes;
// rec is updated in place.
func (p *Part) settlePending(rec *store.ZoneRecord) error {
	var pending []api.NIC
	for _, nic := range rec.NICs {
		if nic.Pending != "" {
			pending = append(pending, nic)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	pid := 0
	if rec.State == api.StateRunning {
		pid = rec.InitPID
	}
	for _, nic := range pending {
		p.host.Logger().Info("settling interrupted NIC change", "zone", rec.Name, "nic", nic.Name, "pending", nic.Pending)
		p.detach(nic, pid)
	}
	updated, err := p.host.Store().UpdateZone(rec.Name, func(z *store.ZoneRecord) error {
		z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Pending != "" })
		return nil
	})
	if err != nil {
		return fmt.Errorf("settle NIC changes of %q: %w", rec.Name, err)
	}
	*rec = *updated
	return nil
}

// reconcile settles interrupted NIC changes, then rebuilds every
// network's host devices, every running zone's anti-spoofing rules and
// rate caps, the NAT table and the host-access rules from the store:
// after a daemon restart (zones kept running, their veths stayed) or a
// host reboot (nothing stayed). Last it sweeps every link of this
// daemon's that no record names any more.
func (p *Part) Reconcile(ctx context.Context, recs []*store.ZoneRecord) error {
	if err := p.loadOwner(); err != nil {
		return err
	}
	for _, rec := range recs {
		if err := p.settlePending(rec); err != nil {
			return err
		}
	}
	nets, err := p.host.Store().ListNetworks()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, nw := range nets {
		t, err := typeOf(&nw.Network)
		if err != nil {
			// A type this daemon does not know (a record of a newer
			// zoned): the bridge the record names is not swept.
			keep[nw.Bridge] = true
			p.host.Logger().Warn("rebuild network", "network", nw.Name, "err", err)
			continue
		}
		for _, l := range t.links(&nw.Network) {
			keep[l] = true
		}
		if err := t.setUp(p.owner, &nw.Network); err != nil {
			p.host.Logger().Warn("rebuild network", "network", nw.Name, "err", err)
		}
	}
	var ports []netvirt.Port
	for _, rec := range recs {
		for _, nic := range rec.NICs {
			if nic.HostIfName == "" {
				continue
			}
			if rec.State != api.StateRunning {
				_ = netvirt.DeleteLink(nic.HostIfName)
				_ = netvirt.DeleteLink(netvirt.IFBName(nic.HostIfName))
				continue
			}
			if !netvirt.LinkExists(nic.HostIfName) {
				// The zone runs but its NIC's host side is gone (deleted
				// behind zoned's back): the NIC is plugged in again, so
				// the zone has what its record says.
				if err := p.attach(rec, nic, rec.InitPID); err != nil {
					p.host.Logger().Warn("replug NIC whose host side is gone", "zone", rec.Name, "nic", nic.Name, "err", err)
					_ = netvirt.DeleteLink(netvirt.IFBName(nic.HostIfName))
					continue
				}
				p.host.Logger().Info("replugged NIC whose host side was gone", "zone", rec.Name, "nic", nic.Name)
			}
			keep[nic.HostIfName] = true
			keep[netvirt.IFBName(nic.HostIfName)] = true
			// A veth made by a zoned from before aliases is claimed, so
			// a later sweep knows it.
			p.owner.Adopt(nic.HostIfName)
			ports = append(ports, netvirt.Port{HostIf: nic.HostIfName, MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6})
			if nw, err := p.host.Store().GetNetwork(nic.Network); err == nil {
				if t, err := typeOf(&nw.Network); err == nil {
					t.restoreNIC(p.host.Logger(), rec.Name, &nw.Network, nic)
				}
			}
			if err := p.owner.SetRate(nic.HostIfName, nic.RateBitsPerSecond); err != nil {
				p.host.Logger().Warn("restore rate cap", "zone", rec.Name, "nic", nic.Name, "err", err)
			}
		}
	}
	// 802.1Q sub-interfaces are shared by a parent's macvlan NICs and go
	// with their network.
	gone, err := p.owner.Sweep(func(name string) bool { return keep[name] || netvirt.IsVLANName(name) })
	for _, g := range gone {
		p.host.Logger().Info("removed a link no record names", "link", g)
	}
	if err != nil {
		p.host.Logger().Warn("sweep links", "err", err)
	}
	p.mu.Lock()
	err = p.owner.ResetPorts(ports)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if err := p.rebuildHostAccess(); err != nil {
		return err
	}
	return p.rebuildNAT()
}
