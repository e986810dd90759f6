package manager

import (
	"context"
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/store"
)

// A zoneDirMaker is a part that makes the zone's directory itself (see
// fsshare.CreateZoneRootIn): the disk quota puts the zone's layer under the
// quota before the layer's directories exist. At most one part is one.
type zoneDirMaker interface {
	makeZoneDir(ctx context.Context, req *api.CreateZoneRequest, dir string, r *revert.Reverter) error
}

// zoneDirFunc is the mkdir a create passes to fsshare.CreateZoneRootIn:
// the zoneDirMaker part's, or nil for a plain directory.
func (m *Manager) zoneDirFunc(ctx context.Context, req *api.CreateZoneRequest, r *revert.Reverter) func(string) error {
	for _, p := range m.parts {
		if dm, ok := p.(zoneDirMaker); ok {
			return func(dir string) error { return dm.makeZoneDir(ctx, req, dir, r) }
		}
	}
	return nil
}

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
