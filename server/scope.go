//go:build linux

package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// access says what a route touches, and so what a scoped HTTPS client
// may do with it. Every route has one (TestEveryRouteHasAccess): a new
// route cannot forget its tenants.
type access int

const (
	accessUnset access = iota
	// accessRead: facts about the host every client may read (the API
	// document, templates, the daemon's version).
	accessRead
	// accessZone: one zone, named by the path's {name}. A zone outside
	// the caller's scope does not exist for it (404, never 403).
	accessZone
	// accessZones: many zones (lists, stats, events, operations,
	// metrics), filtered to the caller's scope.
	accessZones
	// accessCreate: makes a zone; the scope's labels are forced on and
	// nothing that widens isolation is allowed.
	accessCreate
	// accessOperation: one operation, seen only when its zone is.
	accessOperation
	// accessHost: host-wide changes and host paths (pools, networks,
	// template builds, host ports, archives on the host's disk, host
	// shutdown): operators only.
	accessHost
	// accessOperator: the trust store: operators only.
	accessOperator
)

// scoped tells whether the caller is confined to labelled zones.
func (c caller) scoped() bool { return c.client != nil && len(c.client.Scope.Labels) > 0 }

// sees tells whether a zone with labels is in the caller's scope.
func (c caller) sees(labels map[string]string) bool {
	if !c.scoped() {
		return true
	}
	for k, v := range c.client.Scope.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkScope applies the caller's scope to a route, after routing (so
// path values are known) and before the handler.
func (s *Server) checkScope(rt *route, r *http.Request) error {
	who := callerFrom(r.Context())
	if who.operator() {
		return nil
	}
	if rt.access == accessOperator {
		return fmt.Errorf("%s %s is for operators, and client %q has a scope: %w", rt.method, rt.pattern, who.client.Name, errdefs.ErrPermission)
	}
	if who.client.Scope.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("client %q is read-only: %w", who.client.Name, errdefs.ErrPermission)
	}
	if !who.scoped() {
		return nil
	}
	switch rt.access {
	case accessHost:
		return fmt.Errorf("%s %s acts on the whole host, and client %q is confined to its zones: %w", rt.method, rt.pattern, who.client.Name, errdefs.ErrPermission)
	case accessZone:
		return s.zoneVisible(r.Context(), who, r.PathValue("name"))
	case accessOperation:
		op, err := s.m.GetOperation(r.Context(), r.PathValue("id"))
		if err != nil || !s.opVisible(r.Context(), who, op) {
			return fmt.Errorf("operation %q: %w", r.PathValue("id"), errdefs.ErrNotFound)
		}
	}
	return nil
}

// zoneVisible is nil when the caller may see zone name; otherwise the
// same not-found a zone that does not exist gets, so a client learns
// nothing of other tenants' zones.
func (s *Server) zoneVisible(ctx context.Context, who caller, name string) error {
	z, err := s.m.GetZone(ctx, name)
	if err != nil || !who.sees(z.Labels) {
		return fmt.Errorf("zone %q: %w", name, errdefs.ErrNotFound)
	}
	return nil
}

// opVisible tells whether an operation is about a zone the caller sees.
// Operations on templates are the host's.
func (s *Server) opVisible(ctx context.Context, who caller, op *api.Operation) bool {
	if !who.scoped() {
		return true
	}
	if !strings.HasPrefix(op.Kind, "zone-") && !strings.HasPrefix(op.Kind, "snapshot-") {
		return false
	}
	zone, _, _ := strings.Cut(op.Target, "@")
	return s.zoneVisible(ctx, who, zone) == nil
}

// scopeCreate puts the caller's scope on a create request: its labels
// forced on, and nothing that widens isolation.
func scopeCreate(who caller, req *api.CreateZoneRequest) error {
	if !who.scoped() {
		return nil
	}
	if req.Privileged {
		return errdefs.WithField("privileged", fmt.Errorf("client %q may not make privileged zones: %w", who.client.Name, errdefs.ErrPermission))
	}
	if len(req.Devices) > 0 {
		return errdefs.WithField("devices", fmt.Errorf("client %q may not give zones host devices: %w", who.client.Name, errdefs.ErrPermission))
	}
	if req.Labels == nil {
		req.Labels = map[string]string{}
	}
	for k, v := range who.client.Scope.Labels {
		req.Labels[k] = v
	}
	return nil
}

// scopePatch keeps a zone in the caller's scope when a patch replaces
// its labels.
func scopePatch(who caller, p *api.ZonePatch) {
	if !who.scoped() || p.Labels == nil {
		return
	}
	for k, v := range who.client.Scope.Labels {
		p.Labels[k] = v
	}
}

// scopeList narrows a zone list to the caller's scope; false means the
// asked-for labels contradict it, so nothing can match.
func scopeList(who caller, opts *api.ZoneListOptions) bool {
	if !who.scoped() {
		return true
	}
	if opts.Labels == nil {
		opts.Labels = map[string]string{}
	}
	for k, v := range who.client.Scope.Labels {
		if have, ok := opts.Labels[k]; ok && have != v {
			return false
		}
		opts.Labels[k] = v
	}
	return true
}

// eventScope returns the filter of an event stream: a scoped client sees
// events of the zones in its scope only, not the host's. A zone seen once
// stays seen for the stream, so its last events (destroyed) still reach
// the tenant after its record is gone; one not seen yet is asked again,
// since its labels may come later.
func (s *Server) eventScope(ctx context.Context) func(api.Event) bool {
	who := callerFrom(ctx)
	if !who.scoped() {
		return func(api.Event) bool { return true }
	}
	// The zones in scope now are seen already: one destroyed before it
	// had another event on this stream still reaches its tenant.
	seen, _ := s.visibleZones(ctx, who)
	if seen == nil {
		seen = map[string]bool{}
	}
	return func(e api.Event) bool {
		if e.Zone == "" {
			return false
		}
		if !seen[e.Zone] && s.zoneVisible(ctx, who, e.Zone) == nil {
			seen[e.Zone] = true
		}
		return seen[e.Zone]
	}
}

// visibleZones names the zones in the caller's scope (nil for a caller
// without one: every zone).
func (s *Server) visibleZones(ctx context.Context, who caller) (map[string]bool, error) {
	if !who.scoped() {
		return nil, nil
	}
	zones, err := s.scopedZones(ctx, who)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(zones))
	for _, z := range zones {
		out[z.Name] = true
	}
	return out, nil
}

// scopeTemplates leaves in each template's list of zones only those the
// caller sees: a tenant learns which of its zones use a template, not
// which other tenants' do.
func (s *Server) scopeTemplates(ctx context.Context, ts []api.Template) error {
	who := callerFrom(ctx)
	visible, err := s.visibleZones(ctx, who)
	if err != nil || visible == nil {
		return err
	}
	for i := range ts {
		var kept []string
		for _, z := range ts[i].Zones {
			if visible[z] {
				kept = append(kept, z)
			}
		}
		ts[i].Zones = kept
	}
	return nil
}

// scopeInfo counts only the caller's zones in the daemon's info.
func (s *Server) scopeInfo(ctx context.Context, info *api.Info) error {
	who := callerFrom(ctx)
	if !who.scoped() {
		return nil
	}
	zones, err := s.scopedZones(ctx, who)
	if err != nil {
		return err
	}
	info.Zones, info.Running = len(zones), 0
	for _, z := range zones {
		if z.State == api.StateRunning {
			info.Running++
		}
	}
	return nil
}

// capped tells whether the caller's scope caps its zones' totals.
func (c caller) capped() bool {
	if c.client == nil {
		return false
	}
	sc := c.client.Scope
	return sc.MaxMemoryBytes > 0 || sc.MaxCPUPercent > 0 || sc.MaxDiskBytes > 0
}

// capLock serializes the checked changes of one capped client, so two
// creates at once cannot both fit under a cap that holds only one. It
// returns the unlock (a no-op for callers without caps).
func (s *Server) capLock(who caller) func() {
	if !who.capped() {
		return func() {}
	}
	s.capMu.Lock()
	if s.capLocks == nil {
		s.capLocks = map[string]*sync.Mutex{}
	}
	l := s.capLocks[who.client.Name]
	if l == nil {
		l = &sync.Mutex{}
		s.capLocks[who.client.Name] = l
	}
	s.capMu.Unlock()
	l.Lock()
	return l.Unlock
}

// checkCaps refuses a change that would take the caller's zones over its
// caps: their limits, with zone replaced by res (or res added when zone
// is "", a new zone), may not sum above them. A zone without a limit
// counts as over any cap of that kind. Hold capLock across the check
// and the change.
func (s *Server) checkCaps(ctx context.Context, who caller, zone string, res api.Resources) error {
	if !who.capped() {
		return nil
	}
	zones, err := s.scopedZones(ctx, who)
	if err != nil {
		return err
	}
	// Per kind: the sum of the limits, and whether some other zone has
	// none (which no cap holds).
	type total struct {
		sum       int64
		unlimited bool
	}
	var mem, cpu, disk total
	add := func(t *total, v int64) {
		t.sum += v
		t.unlimited = t.unlimited || v == 0
	}
	for _, z := range zones {
		if z.Name != zone {
			add(&mem, z.Resources.MemoryBytes)
			add(&cpu, z.Resources.CPULimitPercent)
			add(&disk, z.Resources.DiskBytes)
		}
	}
	sc := who.client.Scope
	for _, c := range []struct {
		field    string
		cap, own int64
		others   total
	}{
		{"resources.memory_bytes", sc.MaxMemoryBytes, res.MemoryBytes, mem},
		{"resources.cpu_limit_percent", sc.MaxCPUPercent, res.CPULimitPercent, cpu},
		{"resources.disk_bytes", sc.MaxDiskBytes, res.DiskBytes, disk},
	} {
		value := c.others.sum + c.own
		switch {
		case c.cap == 0:
		case c.own == 0:
			return errdefs.WithField(c.field, fmt.Errorf("client %q has a cap of %d on its zones' %s: each zone needs a limit: %w", who.client.Name, c.cap, c.field, errdefs.ErrPermission))
		case c.others.unlimited:
			return errdefs.WithField(c.field, fmt.Errorf("client %q has a zone without a limit on %s, which no cap holds: give it one first: %w", who.client.Name, c.field, errdefs.ErrPermission))
		case value > c.cap:
			return errdefs.WithField(c.field, fmt.Errorf("client %q's zones would hold %d of %s, over its cap of %d: %w", who.client.Name, value, c.field, c.cap, errdefs.ErrPermission))
		}
	}
	return nil
}

// patchedResources is res with the capped fields of patch applied.
func patchedResources(res api.Resources, p *api.ResourcesPatch) api.Resources {
	if p == nil {
		return res
	}
	if p.MemoryBytes != nil {
		res.MemoryBytes = *p.MemoryBytes
	}
	if p.CPULimitPercent != nil {
		res.CPULimitPercent = *p.CPULimitPercent
	}
	if p.DiskBytes != nil {
		res.DiskBytes = *p.DiskBytes
	}
	return res
}

// scopedZones lists the zones in the caller's scope (every zone for a
// caller without one).
func (s *Server) scopedZones(ctx context.Context, who caller) ([]api.Zone, error) {
	opts := api.ZoneListOptions{}
	scopeList(who, &opts)
	zones, _, err := s.m.ListZonesPage(ctx, opts)
	return zones, err
}
