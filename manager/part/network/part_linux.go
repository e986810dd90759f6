package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/netvirt"
	"github.com/zoned-project/zoned/store"
)

// Part gives zones their NICs: addresses and MACs at create, veths (or
// macvlans) plugged into the zone's network namespace at start, with
// anti-spoofing rules and rate caps, all undone when the zone stops. It
// also keeps the networks and the port forwards, which the zones' NICs
// use. Its methods beside the part.Part steps run with the zone's lock
// held where they take a zone's record.
type Part struct {
	part.Base
	host part.Host
	// writeZoneFile writes a file into a zone's root (its
	// /etc/resolv.conf).
	writeZoneFile WriteZoneFile
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

var _ part.Part = (*Part)(nil)

// WriteZoneFile writes data to path inside the zone's root, with mode.
type WriteZoneFile func(rec *store.ZoneRecord, path string, data []byte, mode os.FileMode) error

// New returns the network part. writeZoneFile is the manager's way into
// a zone's root.
func New(host part.Host, writeZoneFile WriteZoneFile) *Part {
	return &Part{host: host, writeZoneFile: writeZoneFile, reserved: map[string]string{}}
}

// NIC states while a change on a running zone is under way (api.NIC.Pending).
const (
	nicAdding   = "adding"
	nicRemoving = "removing"
)

func (*Part) Name() string { return "network" }

func (p *Part) ValidateCreate(ctx context.Context, req *api.CreateZoneRequest) error {
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

func (p *Part) Create(ctx context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, r *revert.Reverter) error {
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
		if nw, err := p.host.Store().GetNetwork(nics[0].Network); err == nil {
			rec.DNS = nw.DNS
		}
	}
	return p.writeResolvConf(rec)
}

// writeResolvConf writes the zone's nameservers, when it has any: the
// guest runs no DHCP client to learn them.
func (p *Part) writeResolvConf(rec *store.ZoneRecord) error {
	if len(rec.DNS) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# written by zoned\n")
	for _, d := range rec.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	if err := p.writeZoneFile(rec, "/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write /etc/resolv.conf: %w", err)
	}
	return nil
}

func (p *Part) Start(ctx context.Context, rec *store.ZoneRecord, pid int, r *revert.Reverter) error {
	for _, nic := range rec.NICs {
		if err := p.attach(rec, nic, pid); err != nil {
			return fmt.Errorf("nic %s: %w", nic.Name, err)
		}
		nic := nic
		r.Add(func() { p.detach(nic, 0) })
	}
	return nil
}

func (p *Part) Stopped(rec *store.ZoneRecord) {
	for _, nic := range rec.NICs {
		p.detach(nic, 0)
	}
}

func (p *Part) Destroy(rec *store.ZoneRecord) error {
	p.Stopped(rec)
	p.release(rec.NICs...)
	fwds, err := p.host.Store().ListPortForwards()
	if err != nil {
		return err
	}
	changed := false
	for _, f := range fwds {
		if f.Zone == rec.Name {
			if err := p.host.Store().DeletePortForward(rec.Name, f.Protocol, f.HostPort); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				return err
			}
			changed = true
		}
	}
	if changed {
		return p.rebuildNAT()
	}
	return nil
}
