package manager

import (
	"context"
	"fmt"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/store"
)

// A zonePart is something a zone holds beside its root and its cgroup:
// its NICs, its disk quota, its /proc view. Each kind lives in a file of
// its own and the manager calls every part, in the order of Manager.parts,
// at each step of a zone's life. A new kind of resource grows in by adding
// a part, without touching create, start, stop and destroy.
//
// Every method runs with the zone's lock held. Steps that change the host
// push their undo on r, so a failure later in the same create or start
// undoes them with the rest.
type zonePart interface {
	// partName names the part in errors and logs ("network", "quota").
	partName() string
	// validateCreate checks the part's share of a create request before
	// anything changes; errors carry errdefs.WithField.
	validateCreate(ctx context.Context, req *api.CreateZoneRequest) error
	// create sets the part up for a new zone. It runs after the store
	// record (state creating) and the zone's root exist, and may change
	// rec; the manager saves rec after the last part.
	create(ctx context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, r *revert.Reverter) error
	// prestart runs before the zone's init is spawned: mounts the part
	// needs to exist when the root is built.
	prestart(ctx context.Context, rec *store.ZoneRecord, r *revert.Reverter) error
	// start runs when the zone's init exists, with its namespaces made
	// and its cgroup joined, but before it runs anything of the guest's:
	// what is set up here is in place when the guest's init starts.
	start(ctx context.Context, rec *store.ZoneRecord, pid int, r *revert.Reverter) error
	// stopped runs after every process of the zone is gone. It must not
	// fail: what it cannot free it logs, and destroy or reconcile retries.
	stopped(rec *store.ZoneRecord)
	// destroy frees everything the part holds for the zone. It must be
	// idempotent: reconcile calls it again after a crash half way.
	destroy(rec *store.ZoneRecord) error
	// reconcile runs once when the daemon starts, after zones have been
	// adopted or marked stopped, to rebuild the host state the part
	// keeps for every zone (nftables rules, qdiscs, FUSE views) from the
	// store.
	reconcile(ctx context.Context, recs []*store.ZoneRecord) error
}

// basePart gives a part no-op defaults, so each part writes only the
// steps it takes part in.
type basePart struct{}

func (basePart) validateCreate(context.Context, *api.CreateZoneRequest) error { return nil }
func (basePart) create(context.Context, *store.ZoneRecord, *api.CreateZoneRequest, *revert.Reverter) error {
	return nil
}
func (basePart) prestart(context.Context, *store.ZoneRecord, *revert.Reverter) error   { return nil }
func (basePart) start(context.Context, *store.ZoneRecord, int, *revert.Reverter) error { return nil }
func (basePart) stopped(*store.ZoneRecord)                                             {}
func (basePart) destroy(*store.ZoneRecord) error                                       { return nil }
func (basePart) reconcile(context.Context, []*store.ZoneRecord) error                  { return nil }

// A zoneDirMaker is a part that makes the zone's directory itself (see
// fsshare.CreateZoneRootIn): the disk quota puts the zone's layer under the
// quota before the layer's directories exist. At most one part is one.
type zoneDirMaker interface {
	makeZoneDir(ctx context.Context, req *api.CreateZoneRequest, dir string, r *revert.Reverter) error
}

// A resourceUpdater is a part that takes its share of a live change of a
// zone's resources (the disk quota's size). It runs before the cgroup
// limits are applied, updates res with what it applied, and refuses bad
// values before changing anything.
type resourceUpdater interface {
	updateResources(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error
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

// updateParts lets every resourceUpdater part apply its share of patch.
func (m *Manager) updateParts(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error {
	if patch == nil {
		return nil
	}
	for _, p := range m.parts {
		if u, ok := p.(resourceUpdater); ok {
			if err := u.updateResources(rec, res, patch); err != nil {
				return fmt.Errorf("%s: %w", p.partName(), err)
			}
		}
	}
	return nil
}
