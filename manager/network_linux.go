package manager

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// netPart gives zones their NICs: addresses and MACs at create, veths (or
// macvlans) plugged into the zone's network namespace at start, with
// anti-spoofing rules and rate caps, all undone when the zone stops.
type netPart struct {
	part.Base
	m *Manager
	// mu serializes address allocation (two creates must not take one
	// address), network create and delete against NICs being added, and
	// nftables changes (the bridge table's last port removes the table).
	mu sync.Mutex
	// reserved holds addresses and MACs handed out by creates and NIC
	// adds whose zone record is not saved yet, so a concurrent one does
	// not take them too. Keys are "net/addr" and "mac/…".
	reserved map[string]string
	// owner names this daemon's host objects (nftables tables, link
	// aliases); reconcile loads it from the store before anything else
	// of the network's runs.
	owner netvirt.Owner
}

// NIC states while a change on a running zone is under way (api.NIC.Pending).
const (
	nicAdding   = "adding"
	nicRemoving = "removing"
)

func newNetPart(m *Manager) *netPart { return &netPart{m: m, reserved: map[string]string{}} }

func (p *netPart) Name() string { return "network" }

// netPart returns the manager's network part.
func (m *Manager) netPart() *netPart {
	for _, p := range m.parts {
		if np, ok := p.(*netPart); ok {
			return np
		}
	}
	panic("manager has no network part")
}

func (p *netPart) ValidateCreate(ctx context.Context, req *api.CreateZoneRequest) error {
	for i, n := range req.NICs {
		if err := checkNICRequest(n); err != nil {
			return errdefs.WithField(fmt.Sprintf("nics[%d]", i), err)
		}
	}
	for _, d := range req.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return errdefs.WithField("dns", fmt.Errorf("nameserver %q is not an IP address: %w", d, errdefs.ErrInvalid))
		}
	}
	return nil
}

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

// resolveNIC turns a request into a NIC of zone rec: name, MAC,
// addresses, gateway, host interface. others are the zone's NICs so far.
// It reserves what it takes; the caller releases on failure or after
// the record is saved. Callers hold p.mu.
func (p *netPart) resolveNIC(rec *store.ZoneRecord, req api.NICRequest, others []api.NIC) (api.NIC, error) {
	if err := checkNICRequest(req); err != nil {
		return api.NIC{}, err
	}
	nw, err := p.m.store.GetNetwork(req.Network)
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
	if nic.VLAN > 0 {
		if err := checkVLAN(&nw.Network); err != nil {
			return api.NIC{}, err
		}
	}
	zones, err := p.m.store.ListZones()
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
	if nw.Type != api.NetworkMacvlan {
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

func (p *netPart) reserve(zone string, nic api.NIC) {
	for _, k := range nicKeys(nic) {
		p.reserved[k] = zone + "/" + nic.Name
	}
}

func (p *netPart) release(nics ...api.NIC) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, nic := range nics {
		for _, k := range nicKeys(nic) {
			delete(p.reserved, k)
		}
	}
}

// checkVLAN tells whether a NIC on network nw can have a VLAN, naming
// the missing kernel option where this kernel cannot.
func checkVLAN(nw *api.Network) error {
	switch nw.Type {
	case api.NetworkBridge:
		if err := netvirt.ProbeBridgeVLANFiltering(); err != nil {
			return fmt.Errorf("vlan: %w", err)
		}
		if !nw.VLANFiltering {
			return fmt.Errorf("vlan: network %q has no VLAN filtering (create it with --vlan-filtering): %w", nw.Name, errdefs.ErrInvalid)
		}
	case api.NetworkMacvlan:
		if err := netvirt.Has8021Q(); err != nil {
			return fmt.Errorf("vlan: %w", err)
		}
	default:
		return fmt.Errorf("vlan: a %s network carries no VLANs: %w", nw.Type, errdefs.ErrInvalid)
	}
	return nil
}

func (p *netPart) Create(ctx context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, r *revert.Reverter) error {
	p.mu.Lock()
	var nics []api.NIC
	for i, nr := range req.NICs {
		nic, err := p.resolveNIC(rec, nr, nics)
		if err != nil {
			p.mu.Unlock()
			p.release(nics...)
			return errdefs.WithField(fmt.Sprintf("nics[%d]", i), err)
		}
		nics = append(nics, nic)
	}
	p.mu.Unlock()
	// The record is saved after the last part; the reservations stay
	// until the zone is destroyed (or the create undone), which is
	// harmless: the record says the same.
	r.Add(func() { p.release(nics...) })
	rec.NICs = nics
	rec.DNS = req.DNS
	if len(rec.DNS) == 0 && len(nics) > 0 {
		if nw, err := p.m.store.GetNetwork(nics[0].Network); err == nil {
			rec.DNS = nw.DNS
		}
	}
	return p.writeResolvConf(rec)
}

// writeResolvConf writes the zone's nameservers, when it has any: the
// guest runs no DHCP client to learn them.
func (p *netPart) writeResolvConf(rec *store.ZoneRecord) error {
	if len(rec.DNS) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# written by zoned\n")
	for _, d := range rec.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	if err := p.m.fs.WriteZoneFile(rec.Name, "/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write /etc/resolv.conf: %w", err)
	}
	return nil
}

func (p *netPart) Start(ctx context.Context, rec *store.ZoneRecord, pid int, r *revert.Reverter) error {
	for _, nic := range rec.NICs {
		if err := p.attach(rec, nic, pid); err != nil {
			return fmt.Errorf("nic %s: %w", nic.Name, err)
		}
		nic := nic
		r.Add(func() { p.detach(nic, 0) })
	}
	return nil
}

// attach plugs a NIC into the running zone whose init is pid, with its
// anti-spoofing rules and rate cap; on error nothing of it is left.
func (p *netPart) attach(rec *store.ZoneRecord, nic api.NIC, pid int) (err error) {
	nw, err := p.m.store.GetNetwork(nic.Network)
	if err != nil {
		return err
	}
	if err := ensureNetwork(p.owner, &nw.Network); err != nil {
		return err
	}
	c := netvirt.NIC{Name: nic.Name, HostIf: nic.HostIfName, MAC: nic.MAC, MTU: nic.MTU, IPv4: nic.IPv4, IPv6: nic.IPv6, Gateway: nic.Gateway, VLAN: nic.VLAN}
	if nw.Type == api.NetworkMacvlan {
		parent := nw.Parent
		if nic.VLAN > 0 {
			if parent, err = p.owner.EnsureVLANDevice(nw.Parent, nic.VLAN); err != nil {
				return err
			}
		}
		c.VLAN = 0
		return netvirt.AttachMacvlan(pid, parent, c)
	}
	if err := p.owner.AttachVeth(pid, nw.Bridge, c); err != nil {
		return err
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
func (p *netPart) detach(nic api.NIC, pid int) {
	if nic.HostIfName == "" {
		if pid > 0 {
			if err := netvirt.DetachInZone(pid, nic.Name); err != nil {
				p.m.log.Warn("remove macvlan from zone", "nic", nic.Name, "err", err)
			}
		}
		return
	}
	p.mu.Lock()
	err := p.owner.RemovePort(nic.HostIfName)
	p.mu.Unlock()
	if err != nil {
		p.m.log.Warn("remove anti-spoofing rules", "nic", nic.Name, "err", err)
	}
	if err := netvirt.DeleteLink(nic.HostIfName); err != nil {
		p.m.log.Warn("remove host side of NIC", "nic", nic.Name, "err", err)
	}
	if err := netvirt.DeleteLink(netvirt.IFBName(nic.HostIfName)); err != nil {
		p.m.log.Warn("remove ifb of NIC", "nic", nic.Name, "err", err)
	}
}

func (p *netPart) Stopped(rec *store.ZoneRecord) {
	for _, nic := range rec.NICs {
		p.detach(nic, 0)
	}
}

func (p *netPart) Destroy(rec *store.ZoneRecord) error {
	p.Stopped(rec)
	p.release(rec.NICs...)
	fwds, err := p.m.store.ListPortForwards()
	if err != nil {
		return err
	}
	changed := false
	for _, f := range fwds {
		if f.Zone == rec.Name {
			if err := p.m.store.DeletePortForward(rec.Name, f.Protocol, f.HostPort); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
			changed = true
		}
	}
	if changed {
		return p.m.rebuildNAT()
	}
	return nil
}

// loadOwner reads (or makes, on a store's first start) the daemon's
// instance ID, which names its host objects. A store that already had
// networks when it got its ID comes from a daemon older than instance
// IDs, whose tables were named plainly "zoned": they were this daemon's,
// and its predecessor's rules are dropped so the new ones stand alone.
func (p *netPart) loadOwner() error {
	id, created, err := p.m.store.InstanceID(netvirt.NewInstanceID)
	if err != nil {
		return err
	}
	if !netvirt.ValidInstanceID(id) {
		return fmt.Errorf("instance ID %q in the store is not 8 hex digits", id)
	}
	p.owner = netvirt.Owner{ID: id}
	if nets, err := p.m.store.ListNetworks(); created && err == nil && len(nets) > 0 {
		legacy := netvirt.Owner{}
		if err := legacy.ResetPorts(nil); err != nil {
			p.m.log.Warn("remove the anti-spoofing table of an older zoned", "err", err)
		}
		if err := legacy.SetNAT(nil, nil); err != nil {
			p.m.log.Warn("remove the NAT table of an older zoned", "err", err)
		}
	}
	return nil
}

// settlePending finishes or undoes the NIC changes a crash cut short:
// a NIC being removed is removed, one being added is taken out again
// (its caller never heard it was made). Either way its host side goes;
// rec is updated in place.
func (p *netPart) settlePending(rec *store.ZoneRecord) error {
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
		p.m.log.Info("settling interrupted NIC change", "zone", rec.Name, "nic", nic.Name, "pending", nic.Pending)
		p.detach(nic, pid)
	}
	updated, err := p.m.store.UpdateZone(rec.Name, func(z *store.ZoneRecord) error {
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
func (p *netPart) Reconcile(ctx context.Context, recs []*store.ZoneRecord) error {
	if err := p.loadOwner(); err != nil {
		return err
	}
	for _, rec := range recs {
		if err := p.settlePending(rec); err != nil {
			return err
		}
	}
	nets, err := p.m.store.ListNetworks()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, nw := range nets {
		keep[nw.Bridge] = true
		if nw.Type == api.NetworkVXLAN {
			keep[netvirt.VXLANName(nw.Name)] = true
		}
		if err := ensureNetwork(p.owner, &nw.Network); err != nil {
			p.m.log.Warn("rebuild network", "network", nw.Name, "err", err)
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
					p.m.log.Warn("replug NIC whose host side is gone", "zone", rec.Name, "nic", nic.Name, "err", err)
					_ = netvirt.DeleteLink(netvirt.IFBName(nic.HostIfName))
					continue
				}
				p.m.log.Info("replugged NIC whose host side was gone", "zone", rec.Name, "nic", nic.Name)
			}
			keep[nic.HostIfName] = true
			keep[netvirt.IFBName(nic.HostIfName)] = true
			// A veth made by a zoned from before aliases is claimed, so
			// a later sweep knows it.
			p.owner.Adopt(nic.HostIfName)
			ports = append(ports, netvirt.Port{HostIf: nic.HostIfName, MAC: nic.MAC, IPv4: nic.IPv4, IPv6: nic.IPv6})
			if nw, err := p.m.store.GetNetwork(nic.Network); err == nil {
				if err := netvirt.EnsureUplink(nw.Bridge, nic.HostIfName); err != nil {
					p.m.log.Warn("reattach NIC to bridge", "zone", rec.Name, "nic", nic.Name, "err", err)
				} else if nic.VLAN > 0 {
					if err := netvirt.SetPortVLAN(nic.HostIfName, nic.VLAN); err != nil {
						p.m.log.Warn("restore NIC's VLAN", "zone", rec.Name, "nic", nic.Name, "err", err)
					}
				}
			}
			if err := p.owner.SetRate(nic.HostIfName, nic.RateBitsPerSecond); err != nil {
				p.m.log.Warn("restore rate cap", "zone", rec.Name, "nic", nic.Name, "err", err)
			}
		}
	}
	// 802.1Q sub-interfaces are shared by a parent's macvlan NICs and go
	// with their network.
	gone, err := p.owner.Sweep(func(name string) bool { return keep[name] || netvirt.IsVLANName(name) })
	for _, g := range gone {
		p.m.log.Info("removed a link no record names", "link", g)
	}
	if err != nil {
		p.m.log.Warn("sweep links", "err", err)
	}
	p.mu.Lock()
	err = p.owner.ResetPorts(ports)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if err := p.m.rebuildHostAccess(); err != nil {
		return err
	}
	return p.m.rebuildNAT()
}

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

// rebuildNAT writes the NAT table from the store.
func (m *Manager) rebuildNAT() error {
	nets, err := m.store.ListNetworks()
	if err != nil {
		return err
	}
	var natNets []netvirt.NATNet
	for _, nw := range nets {
		if nw.NAT {
			natNets = append(natNets, netvirt.NATNet{Subnet: nw.Subnet, Bridge: nw.Bridge})
		}
	}
	fwds, err := m.store.ListPortForwards()
	if err != nil {
		return err
	}
	var rules []netvirt.Forward
	for _, f := range fwds {
		addr := m.forwardAddress(f.Zone)
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
	return m.netPart().owner.SetNAT(natNets, rules)
}

// rebuildHostAccess writes what zones may reach on the host, for every
// bridge and vxlan network, from the store.
func (m *Manager) rebuildHostAccess() error {
	nets, err := m.store.ListNetworks()
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
	return m.netPart().owner.SetHostAccess(access)
}

// forwardAddress is where a zone's port forwards go: its first IPv4
// address on a bridge network.
func (m *Manager) forwardAddress(zone string) string {
	rec, err := m.store.GetZone(zone)
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

// CreateNetwork checks and stores a network and makes its host devices.
func (m *Manager) CreateNetwork(ctx context.Context, req api.Network) (_ *api.Network, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("create network %q: %w", req.Name, err)
		}
	}()
	if err := validate.Name("network", req.Name); err != nil {
		return nil, errdefs.WithField("name", err)
	}
	p := m.netPart()
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
	err = m.store.CreateNetwork(rec, func(others []*store.NetworkRecord) error {
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
	r.Add(func() { _ = m.store.DeleteNetwork(nw.Name, func([]*store.ZoneRecord) error { return nil }) })
	r.Add(func() { teardownNetwork(&nw) })
	if err := ensureNetwork(p.owner, &nw); err != nil {
		return nil, err
	}
	// The host-access rules are in place before a zone can be on the
	// bridge.
	r.Add(func() { _ = m.rebuildHostAccess() })
	if err := m.rebuildHostAccess(); err != nil {
		return nil, err
	}
	if nw.NAT {
		r.Add(func() { _ = m.rebuildNAT() })
		if err := m.rebuildNAT(); err != nil {
			return nil, err
		}
	}
	r.Success()
	m.log.Info("network created", "network", nw.Name, "type", nw.Type)
	return &nw, nil
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

func (m *Manager) networkToAPI(rec *store.NetworkRecord, zones []*store.ZoneRecord) *api.Network {
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
func (m *Manager) ListNetworks(ctx context.Context) ([]api.Network, error) {
	nets, err := m.store.ListNetworks()
	if err != nil {
		return nil, err
	}
	zones, err := m.store.ListZones()
	if err != nil {
		return nil, err
	}
	out := make([]api.Network, 0, len(nets))
	for _, n := range nets {
		out = append(out, *m.networkToAPI(n, zones))
	}
	return out, nil
}

// GetNetwork returns one network.
func (m *Manager) GetNetwork(ctx context.Context, name string) (*api.Network, error) {
	rec, err := m.store.GetNetwork(name)
	if err != nil {
		return nil, err
	}
	zones, err := m.store.ListZones()
	if err != nil {
		return nil, err
	}
	return m.networkToAPI(rec, zones), nil
}

// DeleteNetwork removes a network no NIC uses, and its host devices.
func (m *Manager) DeleteNetwork(ctx context.Context, name string) error {
	p := m.netPart()
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, err := m.store.GetNetwork(name)
	if err != nil {
		return fmt.Errorf("delete network %q: %w", name, err)
	}
	err = m.store.DeleteNetwork(name, func(zones []*store.ZoneRecord) error {
		if used := m.networkToAPI(rec, zones).UsedBy; len(used) > 0 {
			return fmt.Errorf("NICs %s use it: %w", strings.Join(used, ", "), errdefs.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete network %q: %w", name, err)
	}
	teardownNetwork(&rec.Network)
	if err := m.rebuildHostAccess(); err != nil {
		return fmt.Errorf("delete network %q: %w", name, err)
	}
	if rec.NAT {
		if err := m.rebuildNAT(); err != nil {
			return fmt.Errorf("delete network %q: %w", name, err)
		}
	}
	m.log.Info("network deleted", "network", name)
	return nil
}

// ListNICs returns a zone's NICs.
func (m *Manager) ListNICs(ctx context.Context, zone string) ([]api.NIC, error) {
	rec, err := m.store.GetZone(zone)
	if err != nil {
		return nil, err
	}
	if rec.NICs == nil {
		return []api.NIC{}, nil
	}
	return rec.NICs, nil
}

// AddNIC gives a zone a NIC; a running zone gets it at once.
func (m *Manager) AddNIC(ctx context.Context, zone string, req api.NICRequest) (*api.NIC, error) {
	var out api.NIC
	p := m.netPart()
	err := m.withZone("add nic to", zone, func(rec *store.ZoneRecord) error {
		if err := checkNICRequest(req); err != nil {
			return err
		}
		p.mu.Lock()
		nic, err := p.resolveNIC(rec, req, rec.NICs)
		p.mu.Unlock()
		if err != nil {
			return err
		}
		defer p.release(nic)
		r := revert.New()
		defer r.Fail()
		if rec.State == api.StateStopped {
			// Nothing on the host: one commit adds the NIC.
			_, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
				z.NICs = append(z.NICs, nic)
				return nil
			})
			if err != nil {
				return err
			}
			out = nic
			return nil
		}
		if rec.State != api.StateRunning || rec.InitPID <= 0 {
			return fmt.Errorf("zone is %s: %w", rec.State, errdefs.ErrConflict)
		}
		// The NIC is recorded as being added before the host is
		// touched, so a daemon killed half way finds what to undo.
		pending := nic
		pending.Pending = nicAdding
		if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
			z.NICs = append(z.NICs, pending)
			return nil
		}); err != nil {
			return err
		}
		r.Add(func() {
			if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
				z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Name == nic.Name })
				return nil
			}); err != nil {
				m.log.Warn("undo NIC add: the record keeps it until the next start settles it", "zone", zone, "nic", nic.Name, "err", err)
			}
		})
		if err := p.attach(rec, nic, rec.InitPID); err != nil {
			return fmt.Errorf("nic %s: %w", nic.Name, err)
		}
		r.Add(func() { p.detach(nic, rec.InitPID) })
		if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
			for i := range z.NICs {
				if z.NICs[i].Name == nic.Name {
					z.NICs[i].Pending = ""
				}
			}
			return nil
		}); err != nil {
			return err
		}
		r.Success()
		out = nic
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("nic added", "zone", zone, "nic", out.Name, "network", out.Network)
	return &out, nil
}

// RemoveNIC takes a NIC from a zone, at once if it runs.
func (m *Manager) RemoveNIC(ctx context.Context, zone, name string) error {
	p := m.netPart()
	return m.withZone("remove nic from", zone, func(rec *store.ZoneRecord) error {
		i := slices.IndexFunc(rec.NICs, func(n api.NIC) bool { return n.Name == name })
		if i < 0 {
			return fmt.Errorf("nic %q: %w", name, errdefs.ErrNotFound)
		}
		nic := rec.NICs[i]
		running := rec.State == api.StateRunning && rec.InitPID > 0
		if running {
			// Recorded first, so a daemon killed before the host side is
			// gone finishes the remove when it starts again.
			if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
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
		if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
			z.NICs = slices.DeleteFunc(z.NICs, func(n api.NIC) bool { return n.Name == name })
			return nil
		}); err != nil {
			return err
		}
		p.release(nic)
		return m.rebuildNAT()
	})
}

// SetNIC changes a NIC's rate cap, live when the zone runs.
func (m *Manager) SetNIC(ctx context.Context, zone, name string, patch api.NICPatch) (*api.NIC, error) {
	var out api.NIC
	err := m.withZone("set nic of", zone, func(rec *store.ZoneRecord) error {
		i := slices.IndexFunc(rec.NICs, func(n api.NIC) bool { return n.Name == name })
		if i < 0 {
			return fmt.Errorf("nic %q: %w", name, errdefs.ErrNotFound)
		}
		nic := rec.NICs[i]
		if patch.RateBitsPerSecond != nil {
			bps := *patch.RateBitsPerSecond
			if bps < 0 || (bps > 0 && bps < 8000) {
				return errdefs.WithField("rate_bps", fmt.Errorf("rate %d bit/s is invalid (at least 8kbit): %w", bps, errdefs.ErrInvalid))
			}
			if bps > 0 && nic.HostIfName == "" {
				return errdefs.WithField("rate_bps", fmt.Errorf("rate caps need a bridge or vxlan NIC (macvlan traffic bypasses the host): %w", errdefs.ErrUnsupported))
			}
			if rec.State == api.StateRunning && nic.HostIfName != "" {
				if err := m.netPart().owner.SetRate(nic.HostIfName, bps); err != nil {
					return err
				}
			}
			nic.RateBitsPerSecond = bps
		}
		if _, err := m.store.UpdateZone(zone, func(z *store.ZoneRecord) error {
			z.NICs[i] = nic
			return nil
		}); err != nil {
			return err
		}
		out = nic
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AddPortForward forwards a host port into a zone.
func (m *Manager) AddPortForward(ctx context.Context, zone string, pf api.PortForward) (*api.PortForward, error) {
	if pf.Protocol == "" {
		pf.Protocol = "tcp"
	}
	pf.Zone = zone
	err := m.withZone("forward a port to", zone, func(rec *store.ZoneRecord) error {
		if pf.Protocol != "tcp" && pf.Protocol != "udp" {
			return errdefs.WithField("protocol", fmt.Errorf("protocol %q is not tcp or udp: %w", pf.Protocol, errdefs.ErrInvalid))
		}
		for f, v := range map[string]int{"host_port": pf.HostPort, "zone_port": pf.ZonePort} {
			if v < 1 || v > 65535 {
				return errdefs.WithField(f, fmt.Errorf("port %d is outside 1-65535: %w", v, errdefs.ErrInvalid))
			}
		}
		if pf.Address = m.forwardAddress(zone); pf.Address == "" {
			return fmt.Errorf("zone has no IPv4 address on a bridge network to forward to: %w", errdefs.ErrPrecondition)
		}
		p := m.netPart()
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := m.store.AddPortForward(api.PortForward{Zone: zone, HostPort: pf.HostPort, ZonePort: pf.ZonePort, Protocol: pf.Protocol}); err != nil {
			return err
		}
		if err := m.rebuildNAT(); err != nil {
			_ = m.store.DeletePortForward(zone, pf.Protocol, pf.HostPort)
			_ = m.rebuildNAT()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pf, nil
}

// ListPortForwards returns a zone's port forwards ("" for all zones').
func (m *Manager) ListPortForwards(ctx context.Context, zone string) ([]api.PortForward, error) {
	if zone != "" {
		if _, err := m.store.GetZone(zone); err != nil {
			return nil, err
		}
	}
	fwds, err := m.store.ListPortForwards()
	if err != nil {
		return nil, err
	}
	out := []api.PortForward{}
	for _, f := range fwds {
		if zone == "" || f.Zone == zone {
			f.Address = m.forwardAddress(f.Zone)
			out = append(out, *f)
		}
	}
	return out, nil
}

// RemovePortForward stops forwarding a host port into a zone.
func (m *Manager) RemovePortForward(ctx context.Context, zone, proto string, hostPort int) error {
	if proto == "" {
		proto = "tcp"
	}
	return m.withZone("remove port forward of", zone, func(rec *store.ZoneRecord) error {
		p := m.netPart()
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := m.store.DeletePortForward(zone, proto, hostPort); err != nil {
			return err
		}
		return m.rebuildNAT()
	})
}
