package network

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// checkNICRequest checks what can be checked without the store.
func checkNICRequest(n api.NICRequest) error {
	if n.Network == "" {
		return fmt.Errorf("NIC has no network: %w", errdefs.ErrInvalid)
	}
	if n.Name != "" {
		if err := checkIfName(n.Name); err != nil {
			return err
		}
	}
	if n.VLAN != 0 && (n.VLAN < 1 || n.VLAN > 4094) {
		return fmt.Errorf("VLAN %d is outside 1-4094: %w", n.VLAN, errdefs.ErrInvalid)
	}
	if n.MAC != "" {
		if _, err := netvirt.ParseMAC(n.MAC); err != nil {
			return err
		}
	}
	if n.MTU != 0 && (n.MTU < 576 || n.MTU > 65535) {
		return fmt.Errorf("MTU %d is outside 576-65535: %w", n.MTU, errdefs.ErrInvalid)
	}
	if n.RateBitsPerSecond < 0 || (n.RateBitsPerSecond > 0 && n.RateBitsPerSecond < 8000) {
		return fmt.Errorf("rate %d bit/s is invalid (at least 8kbit): %w", n.RateBitsPerSecond, errdefs.ErrInvalid)
	}
	for _, a := range n.IPv6 {
		if _, err := netvirt.ParseIPv6(a); err != nil {
			return err
		}
	}
	if n.Gateway != "" {
		if _, err := netip.ParseAddr(n.Gateway); err != nil {
			return fmt.Errorf("gateway %q is not an IP address: %w", n.Gateway, errdefs.ErrInvalid)
		}
	}
	return nil
}

// checkIfName checks an interface name inside a zone.
func checkIfName(name string) error {
	ok := len(name) > 0 && len(name) <= 15
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			ok = false
		}
	}
	if !ok || name == "lo" {
		return fmt.Errorf("interface name %q must be 1-15 of a-z, 0-9, - and _, and not lo: %w", name, errdefs.ErrInvalid)
	}
	return nil
}

// attach plugs a NIC into the running zone whose init is pid, with its
// anti-spoofing rules and rate cap; on error nothing of it is left.
func (p *Part) attach(rec *store.ZoneRecord, nic api.NIC, pid int) (err error) {
	nw, err := p.host.Store().GetNetwork(nic.Network)
	if err != nil {
		return err
	}
	t, err := typeOf(&nw.Network)
	if err != nil {
		return err
	}
	if err := t.setUp(p.owner, &nw.Network); err != nil {
		return err
	}
	c := netvirt.NIC{Name: nic.Name, HostIf: nic.HostIfName, MAC: nic.MAC, MTU: nic.MTU, IPv4: nic.IPv4, IPv6: nic.IPv6, Gateway: nic.Gateway, VLAN: nic.VLAN}
	if err := t.plug(p.owner, &nw.Network, c, pid); err != nil {
		return err
	}
	if !t.hostSide() {
		return nil
	}
	defer func() {
		if err != nil {
			p.detach(nic, 0)
		}
	}()
	p.mu.Lock()
	err = p.owner.AddPort(netvirt.Port{HostIf: nic.HostIfName, MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6})
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if nic.RateBitsPerSecond > 0 {
		return p.owner.SetRate(nic.HostIfName, nic.RateBitsPerSecond)
	}
	return nil
}

// detach removes a NIC's host side: rules, veth (the zone's end goes with
// it), ifb. pid > 0 also removes a macvlan from inside a running zone.
// Errors are logged: a zone that stops must not fail to.
func (p *Part) detach(nic api.NIC, pid int) {
	if nic.HostIfName == "" {
		if pid > 0 {
			if err := netvirt.DetachInZone(pid, nic.Name); err != nil {
				p.host.Logger().Warn("remove macvlan from zone", "nic", nic.Name, "err", err)
			}
		}
		return
	}
	p.mu.Lock()
	err := p.owner.RemovePort(nic.HostIfName)
	p.mu.Unlock()
	if err != nil {
		p.host.Logger().Warn("remove anti-spoofing rules", "nic", nic.Name, "err", err)
	}
	if err := netvirt.DeleteLink(nic.HostIfName); err != nil {
		p.host.Logger().Warn("remove host side of NIC", "nic", nic.Name, "err", err)
	}
	if err := netvirt.DeleteLink(netvirt.IFBName(nic.HostIfName)); err != nil {
		p.host.Logger().Warn("remove ifb of NIC", "nic", nic.Name, "err", err)
	}
}

// ListNICs returns a zone's NICs.
func (p *Part) ListNICs(zone string) ([]api.NIC, error) {
	rec, err := p.host.Store().GetZone(zone)
	if err != nil {
		return nil, err
	}
	if rec.NICs == nil {
		return []api.NIC{}, nil
	}
	return rec.NICs, nil
}

// AddNIC gives zone rec a NIC; a running zone gets it at once. The
// caller holds the zone's lock.
func (p *Part) AddNIC(rec *store.ZoneRecord, req api.NICRequest) (api.NIC, error) {
	st, zone := p.host.Store(), rec.Name
	if err := checkNICRequest(req); err != nil {
		return api.NIC{}, err
	}
	p.mu.Lock()
	nic, err := p.resolveNIC(rec, req, rec.NICs)
	p.mu.Unlock()
	if err != nil {
		return api.NIC{}, err
	}
	defer p.release(nic)
	r := revert.New()
	defer r.Fail()
	if rec.State == api.StateStopped {
		// Nothing on the host: one commit adds the NIC.
		_, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
			z.NICs = append(z.NICs, nic)
			return nil
		})
		if err != nil {
			return api.NIC{}, err
		}
		return nic, nil
	}
	if rec.State != api.StateRunning || rec.InitPID <= 0 {
		return api.NIC{}, fmt.Errorf("zone is %s: %w", rec.State, errdefs.ErrConflict)
	}
	// The NIC is recorded as being added before the host is
	// touched, so a daemon killed half way finds what to undo.
	pending := nic
	pending.Pending = nicAdding
	if _, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
		z.NICs = append(z.NICs, pending)
		return nil
	}); err != nil {
		return api.NIC{}, err
	}
	r.Add(func() {
		if _, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
			z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Name == nic.Name })
			return nil
		}); err != nil {
			p.host.Logger().Warn("undo NIC add: the record keeps it until the next start settles it", "zone", zone, "nic", nic.Name, "err", err)
		}
	})
	if err := p.attach(rec, nic, rec.InitPID); err != nil {
		return api.NIC{}, fmt.Errorf("nic %s: %w", nic.Name, err)
	}
	r.Add(func() { p.detach(nic, rec.InitPID) })
	if _, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
		for i := range z.NICs {
			if z.NICs[i].Name == nic.Name {
				z.NICs[i].Pending = ""
			}
		}
		return nil
	}); err != nil {
		return api.NIC{}, err
	}
	r.Success()
	return nic, nil
}

// RemoveNIC takes NIC name from zone rec, at once if it runs. The caller
// holds the zone's lock.
func (p *Part) RemoveNIC(rec *store.ZoneRecord, name string) error {
	st, zone := p.host.Store(), rec.Name
	i := slices.IndexFunc(rec.NICs, func(n api.NIC) bool { return n.Name == name })
	if i < 0 {
		return fmt.Errorf("nic %q: %w", name, errdefs.ErrNotFound)
	}
	nic := rec.NICs[i]
	running := rec.State == api.StateRunning && rec.InitPID > 0
	if running {
		// Recorded first, so a daemon killed before the host side is
		// gone finishes the remove when it starts again.
		if _, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
			for i := range z.NICs {
				if z.NICs[i].Name == name {
					z.NICs[i].Pending = nicRemoving
				}
			}
			return nil
		}); err != nil {
			return err
		}
		p.detach(nic, rec.InitPID)
	}
	if _, err := st.UpdateZone(zone, func(z *store.ZoneRecord) error {
		z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Name == name })
		return nil
	}); err != nil {
		return err
	}
	p.release(nic)
	return p.rebuildNAT()
}

// SetNIC changes NIC name's rate cap, live when zone rec runs. The caller
// holds the zone's lock.
func (p *Part) SetNIC(rec *store.ZoneRecord, name string, patch api.NICPatch) (api.NIC, error) {
	i := slices.IndexFunc(rec.NICs, func(n api.NIC) bool { return n.Name == name })
	if i < 0 {
		return api.NIC{}, fmt.Errorf("nic %q: %w", name, errdefs.ErrNotFound)
	}
	nic := rec.NICs[i]
	if patch.RateBitsPerSecond != nil {
		bps := *patch.RateBitsPerSecond
		if bps < 0 || (bps > 0 && bps < 8000) {
			return api.NIC{}, errdefs.WithField("rate_bps", fmt.Errorf("rate %d bit/s is invalid (at least 8kbit): %w", bps, errdefs.ErrInvalid))
		}
		if bps > 0 && nic.HostIfName == "" {
			return api.NIC{}, errdefs.WithField("rate_bps", fmt.Errorf("rate caps need a bridge or vxlan NIC (macvlan traffic bypasses the host): %w", errdefs.ErrUnsupported))
		}
		if rec.State == api.StateRunning && nic.HostIfName != "" {
			if err := p.owner.SetRate(nic.HostIfName, bps); err != nil {
				return api.NIC{}, err
			}
		}
		nic.RateBitsPerSecond = bps
	}
	if _, err := p.host.Store().UpdateZone(rec.Name, func(z *store.ZoneRecord) error {
		z.NICs[i] = nic
		return nil
	}); err != nil {
		return api.NIC{}, err
	}
	return nic, nil
}
