// Package part is the contract between the zone manager and the parts of a
// zone: each resource a zone holds beside its root and its cgroup (its
// NICs and port forwards, its disk quota, its /proc view, its snapshots)
// is a Part in a package of its own. The manager orchestrates: it calls
// every part at each step of a zone's life (create, start, stop, destroy,
// reconcile) in the order Order works out from what each part says it
// needs (After), and undoes what a failed step did. A part owns its
// resource: it keeps its own state, talks to the kernel for it, and sees
// the rest of the daemon only through Host.
//
// A new kind of resource grows in by adding a package with a Part and
// one line where the daemon lists its parts (manager.New); create, start,
// stop and destroy do not change.
package part

import (
	"context"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/store"
)

// Part is one kind of resource a zone holds. Every step method runs with
// the zone's lock held. Steps that change the host push their undo on r,
// so a failure later in the same create or start undoes them with the
// rest, in reverse order.
type Part interface {
	// Name names the part in errors, logs and other parts' After
	// ("network", "quota").
	Name() string
	// After names the parts whose create and start steps must run
	// before this part's (and whose stop and destroy steps run after
	// it). Order fails on a name no part has or on a cycle, so an order
	// is a checked contract, not a comment.
	After() []string
	// ValidateCreate checks the part's share of a create request before
	// anything changes; errors carry errdefs.WithField.
	ValidateCreate(ctx context.Context, req *api.CreateZoneRequest) error
	// Create sets the part up for a new zone. It runs after the store
	// record (state creating) and the zone's root exist, and may change
	// rec; the manager saves rec after the last part.
	Create(ctx context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, r *revert.Reverter) error
	// Prestart runs before the zone's init is spawned: mounts the part
	// needs to exist when the root is built.
	Prestart(ctx context.Context, rec *store.ZoneRecord, r *revert.Reverter) error
	// Start runs when the zone's init exists, with its namespaces made
	// and its cgroup joined, but before it runs anything of the guest's:
	// what is set up here is in place when the guest's init starts.
	Start(ctx context.Context, rec *store.ZoneRecord, pid int, r *revert.Reverter) error
	// Stopped runs after every process of the zone is gone. It must not
	// fail: what it cannot free it logs, and destroy or reconcile retries.
	Stopped(rec *store.ZoneRecord)
	// Destroy frees everything the part holds for the zone. It must be
	// idempotent: reconcile calls it again after a crash half way.
	Destroy(rec *store.ZoneRecord) error
	// Reconcile runs once when the daemon starts, after zones have been
	// adopted or marked stopped, to rebuild the host state the part keeps
	// for every zone (nftables rules, qdiscs, FUSE views) from the store.
	Reconcile(ctx context.Context, recs []*store.ZoneRecord) error
}

// Base gives a part no-op steps, so each part writes only the steps it
// takes part in. It needs nothing before it.
type Base struct{}

func (Base) After() []string                                              { return nil }
func (Base) ValidateCreate(context.Context, *api.CreateZoneRequest) error { return nil }
func (Base) Create(context.Context, *store.ZoneRecord, *api.CreateZoneRequest, *revert.Reverter) error {
	return nil
}
func (Base) Prestart(context.Context, *store.ZoneRecord, *revert.Reverter) error   { return nil }
func (Base) Start(context.Context, *store.ZoneRecord, int, *revert.Reverter) error { return nil }
func (Base) Stopped(*store.ZoneRecord)                                             {}
func (Base) Destroy(*store.ZoneRecord) error                                       { return nil }
func (Base) Reconcile(context.Context, []*store.ZoneRecord) error                  { return nil }

// Host is what the daemon lends a part: the store, the event stream, the
// log and a few facts about zones. It is deliberately small, so a part
// cannot reach into the manager's own state, and a unit test can give a
// part a fake.
type Host interface {
	// Store is the daemon's store. Parts change a zone's record only
	// through its methods (UpdateZone), never behind the manager's back
	// outside a step.
	Store() *store.Store
	// Logger is the daemon's log.
	Logger() *slog.Logger
	// Emit publishes an event on GET /v1/events.
	Emit(typ, zone string, state api.ZoneState, msg string)
	// CgroupPath is the absolute cgroup of a zone.
	CgroupPath(zone string) string
	// CgroupParent is the group every zone's group is under.
	CgroupParent() string
	// DataDir is the daemon's data directory.
	DataDir() string
	// Running says whether the zone's init is running now.
	Running(zone string) bool
}

// The optional interfaces below are steps only some parts take. The
// manager asks each part for them, in Order.

// ResourceUpdater takes its share of a live change of a zone's resources
// (the disk quota's size). It runs before the cgroup limits are applied,
// updates res with what it applied, and refuses bad values before
// changing anything.
type ResourceUpdater interface {
	UpdateResources(rec *store.ZoneRecord, res *api.Resources, patch *api.ResourcesPatch) error
}

// SeccompAdder adds to the seccomp policy a command entering a running
// zone gets (the /proc view's notify rules).
type SeccompAdder interface {
	ExecSeccomp(zone string, sc *specs.LinuxSeccomp) *specs.LinuxSeccomp
}

// Warner says what works less than asked for a zone (shown in the zone's
// warnings).
type Warner interface {
	Warnings(zone string) []string
}

// StatsFiller adds its own figures to a zone's stats.
type StatsFiller interface {
	FillStats(zone string, st *api.ZoneStats)
}

// Closer is a part that holds something for the daemon's life (a server,
// watchers): Close ends it when the daemon stops. Zones keep running.
type Closer interface {
	Close()
}
