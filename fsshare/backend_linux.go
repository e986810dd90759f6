package fsshare

import (
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/quota"
)

// backends is every storage backend zoned knows, the one place a new
// backend is registered: its file implements layerBackend and names it
// (the Backend* constant a pool may ask for), and a line here registers it. The order is the order an unknown-backend error lists them;
// prefer orders detection (the highest preference that serves a directory
// wins).
var backends = []backendEntry{
	// Anywhere: overlayfs needs nothing of the filesystem below it.
	{name: BackendOverlay, new: func() layerBackend { return overlayBackend{} }, prefer: 0},
	// On btrfs, snapshots share extents and need no overlay.
	{name: BackendBtrfs, new: func() layerBackend { return btrfsBackend{} }, prefer: 10},
}

// backendEntry registers one backend.
type backendEntry struct {
	name   string
	new    func() layerBackend
	prefer int
}

// layerBackend is the driver of one way a zone gets its own writable copy
// of a template: overlayfs (a per-zone upper directory over the shared
// template, overlay_linux.go) or btrfs (a per-zone snapshot of the
// template's subvolume, btrfs_linux.go). Everything fsshare does that
// differs between backends is a method here, grouped by job; the rest of
// fsshare (pools, volumes, snapshot and export bookkeeping) is shared.
// Every method that takes layerDir gets the zone's layer directory
// (POOL/zones/NAME, which is zones/NAME of the data dir in the default
// pool), which the backend owns below it.
type layerBackend interface {
	layerMaker
	detector
	snapshotter
	cloner
	exporter
	quotaKeeper
	templateKeeper
}

// layerMaker makes, mounts, measures and removes a zone's layer.
type layerMaker interface {
	// Name is the backend's short name, as registered in backends.
	Name() string
	// Create makes the zone's layer over templateRoot in layerDir, which
	// exists and is empty.
	Create(layerDir, templateRoot string) error
	// RootMount is the mount that makes rootPath the zone's root.
	RootMount(layerDir, rootPath, templateRoot string) specs.Mount
	// WritableDir is the directory holding the zone's own files while the
	// zone is stopped (the overlay upper dir, a btrfs snapshot).
	WritableDir(layerDir string) string
	// Usage is the bytes the zone's own layer takes on disk.
	Usage(layerDir string) (int64, error)
	// Delete removes what Create made below layerDir (a subvolume cannot
	// be removed as a plain directory once it is read-only); the caller
	// removes layerDir itself.
	Delete(layerDir string) error
	// ShiftsOwners tells whether an unprivileged zone's own files are
	// stored with host IDs (overlay: the upper dir is written by the zone
	// directly) or with the zone's IDs (btrfs: the whole snapshot is
	// presented through an idmapped mount).
	ShiftsOwners() bool
	// OwnLayer gives an unprivileged zone whose root is host ID base the
	// directories of a fresh layer it writes to, the writable dir taking
	// the template root's owner (rootUID, rootGID) shifted by base;
	// nothing where the backend does not ShiftsOwners.
	OwnLayer(layerDir string, base int, rootUID, rootGID uint32) error
}

// detector tells which directories a backend can serve.
type detector interface {
	// Serves tells whether the backend can make layers in dir: "" when
	// it can, else what it needs of dir that dir lacks, for the error
	// that refuses the pool ("DIR on a btrfs filesystem, and it is not").
	Serves(dir string) (unmet string, err error)
}

// snapshotter takes, restores and deletes snapshots of a zone's layer
// (see snapshot_linux.go for where they live). A snapshot and a restore's
// fresh copy are both copies of a writable dir.
type snapshotter interface {
	// CopyLayer copies the writable dir src to dst, which must not exist,
	// read-only when asked (a snapshot; a restore's copy is writable).
	CopyLayer(src, dst string, readonly bool) error
	// SnapshotFiles is where the files of a copy CopyLayer made at
	// snapDir are: what a restore makes the writable dir again.
	SnapshotFiles(snapDir string) string
	// SnapshotSize is the bytes the copy at snapDir takes on disk that
	// nothing else shares.
	SnapshotSize(snapDir string) (int64, error)
	// RemoveSnapshot removes a copy CopyLayer made, or what an
	// interrupted snapshot or restore left (a former writable dir too).
	RemoveSnapshot(snapDir string) error
	// Restored readies the rest of the layer for the writable dir a
	// restore just put in place.
	Restored(layerDir string)
}

// cloner copies one zone's layer into another's.
type cloner interface {
	// CloneLayer replaces the writable dir to, fresh from Create, with a
	// copy of the writable dir from; owners stored as host IDs move from
	// the range starting at fromShift to the one at toShift.
	CloneLayer(from, to string, fromShift, toShift int) error
}

// exporter says what an export archive reads of a zone, and how a layer
// archive is written back (export_linux.go has the archive format).
type exporter interface {
	// ExportsLayer says the writable dir holds only the zone's own changes
	// (in overlay upper dir format), so an export that is not full is a
	// "layer" archive of it; false where the writable dir is the whole
	// root (a btrfs snapshot), exported whole every time.
	ExportsLayer() bool
	// ReadRoot calls read with a read-only view of the zone's whole root,
	// its layer over templateRoot.
	ReadRoot(layerDir, templateRoot string, read func(root string) error) error
	// ReadRootLive says ReadRoot works while the zone runs.
	ReadRootLive() bool
	// PrepareImport sets how x applies a layer archive's whiteouts to the
	// writable dir.
	PrepareImport(x *extractor)
}

// quotaKeeper caps a zone's disk use.
type quotaKeeper interface {
	// LayerQuota names the quota kind (quota.BtrfsQgroup) that caps the
	// zone's layer itself once it is made (LimitLayer); "" where the host
	// filesystem's quota on zones/NAME (project quota or disk image,
	// quota.For) caps it, made before the layer inside.
	LayerQuota() string
	// LimitLayer caps the writable dir Create made to l's bytes; called
	// only where LayerQuota is not "".
	LimitLayer(writableDir string, l quota.Limits) error
}

// templateKeeper makes templates available to a pool's zones.
type templateKeeper interface {
	// CopiesTemplates says zones in a pool of this backend need the pool's
	// own copy of each template (POOL/subvolumes/templates/NAME, made once
	// by CopyTemplate); false: they use the shared template in place.
	CopiesTemplates() bool
	// CopyTemplate makes dst, the pool's copy of the template root src.
	// dst's parent exists and dst does not; a copy that fails before
	// it is complete leaves nothing behind.
	CopyTemplate(src, dst string) error
	// TemplateCopySize is the bytes the copy at dst takes on disk that
	// nothing else shares.
	TemplateCopySize(dst string) (int64, error)
}

// backendNamed is the registered backend called name, nil for none.
func backendNamed(name string) layerBackend {
	for _, e := range backends {
		if e.name == name {
			return e.new()
		}
	}
	return nil
}

// backendNames lists the registered backends as prose: "a, b or c".
func backendNames() string {
	names := make([]string, len(backends))
	for i, e := range backends {
		names[i] = e.name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// detectBackend picks the backend a directory's filesystem serves best:
// the most preferred registered backend that serves it.
func detectBackend(dir string) (layerBackend, error) {
	byPref := append([]backendEntry(nil), backends...)
	sort.SliceStable(byPref, func(i, j int) bool { return byPref[i].prefer > byPref[j].prefer })
	for _, e := range byPref {
		b := e.new()
		unmet, err := b.Serves(dir)
		if err != nil {
			return nil, err
		}
		if unmet == "" {
			return b, nil
		}
	}
	return nil, fmt.Errorf("no storage backend serves %s: %w", dir, errdefs.ErrUnsupported)
}

// backendFor returns the backend named, checked against dir's filesystem;
// "" picks it from the filesystem.
func backendFor(dir, name string) (layerBackend, error) {
	if name == "" {
		return detectBackend(dir)
	}
	b := backendNamed(name)
	if b == nil {
		return nil, errdefs.WithField("backend", fmt.Errorf("backend %q is unknown; use %s: %w", name, backendNames(), errdefs.ErrInvalid))
	}
	unmet, err := b.Serves(dir)
	if err != nil {
		return nil, err
	}
	if unmet != "" {
		return nil, errdefs.WithField("backend", fmt.Errorf("backend %s needs %s: %w", name, unmet, errdefs.ErrInvalid))
	}
	return b, nil
}
