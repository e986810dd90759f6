//go:build linux

package manager

import (
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/procview"
	"github.com/zoned-project/zoned/store"
)

// updateParts lets every part.ResourceUpdater apply its share of patch.
func (m *Manager) updateParts(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error {
	if patch == nil {
		return nil
	}
	for _, p := range m.parts {
		if u, ok := p.(part.ResourceUpdater); ok {
			if err := u.UpdateResources(rec, res, patch); err != nil {
				return fmt.Errorf("%s: %w", p.Name(), err)
			}
		}
	}
	return nil
}

// zoneWarnings collects what parts say works less than asked for a zone.
func (m *Manager) zoneWarnings(zone string) []string {
	var out []string
	for _, p := range m.parts {
		if w, ok := p.(part.Warner); ok {
			out = append(out, w.Warnings(zone)...)
		}
	}
	return out
}

// viewDisk is what the /proc view tells statfs in a zone about its disk:
// a btrfs qgroup's counters, since btrfs's statfs reports the whole
// filesystem; the other backends' statfs reports the quota itself.
func (m *Manager) viewDisk(rec *store.ZoneRecord) (*procview.DiskQuota, error) {
	c, err := m.disk.BtrfsCounters(rec)
	if err != nil || c == nil {
		return nil, err
	}
	return &procview.DiskQuota{UsedFiles: c.Used, LimitFile: c.Limit}, nil
}
