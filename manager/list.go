//go:build linux

package manager

import (
	"context"
	"fmt"
	"sort"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// ValidZoneState reports whether s is a state of the zone state machine.
func ValidZoneState(s api.ZoneState) bool {
	switch s {
	case api.StateCreating, api.StateStopped, api.StateStarting, api.StateRunning, api.StateStopping, api.StateDestroying:
		return true
	}
	return false
}

// ListZonesPage returns the zones that pass opts' filters, sorted by name,
// at most opts.Limit of them (0: all) after opts.After; next is the name to
// continue after when more remain, else "". Filtering happens on the
// records, so zones left out cost no cgroup reads.
func (m *Manager) ListZonesPage(ctx context.Context, opts api.ZoneListOptions) (zones []api.Zone, next string, err error) {
	if opts.State != "" && !ValidZoneState(opts.State) {
		return nil, "", errdefs.WithField("state", fmt.Errorf("state %q is not a zone state: %w", opts.State, errdefs.ErrInvalid))
	}
	if opts.Template != "" {
		if err := validate.Name("template", opts.Template); err != nil {
			return nil, "", errdefs.WithField("template", err)
		}
	}
	if opts.After != "" {
		if err := validate.Name("zone", opts.After); err != nil {
			return nil, "", errdefs.WithField("after", err)
		}
	}
	if err := ValidateLabels(opts.Labels); err != nil {
		return nil, "", errdefs.WithField("label", err)
	}
	if opts.Limit < 0 || opts.Limit > api.MaxListLimit {
		return nil, "", errdefs.WithField("limit", fmt.Errorf("limit %d is outside 1..%d: %w", opts.Limit, api.MaxListLimit, errdefs.ErrInvalid))
	}
	recs, err := m.store.ListZoneSummaries()
	if err != nil {
		return nil, "", err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	zones = []api.Zone{}
	for _, rec := range recs {
		if opts.After != "" && rec.Name <= opts.After {
			continue
		}
		if (opts.State != "" && rec.State != opts.State) || (opts.Template != "" && rec.Template != opts.Template) || !matchLabels(rec.Labels, opts.Labels) {
			continue
		}
		if opts.Limit > 0 && len(zones) == opts.Limit {
			return zones, zones[len(zones)-1].Name, nil
		}
		zones = append(zones, *m.toAPI(rec, false))
	}
	return zones, "", nil
}
