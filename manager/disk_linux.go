package manager

import (
	"fmt"

	"github.com/zoned-project/zoned/quota"
)

// ZoneDiskUsage is what the zone's own layer takes on disk and its caps, as
// the quota backend counts them (manager/part/disk); a zone without a quota
// gets the bytes of its layer and no backend.
func (m *Manager) ZoneDiskUsage(name string) (*quota.Usage, error) {
	rec, err := m.store.GetZone(name)
	if err != nil {
		return nil, fmt.Errorf("zone %q: %w", name, err)
	}
	return m.disk.Usage(rec)
}
