package fsshare

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/quota"
)

// Volume is one zone's layer in its pool: the handle the manager resolves
// once from the zone's store record (whose Pool field is the truth about
// where the layer is) and works on the layer through. Nothing on disk
// names a zone's pool.
type Volume struct {
	s    *Storage
	zone string
	p    *pool
	// quota is the disk quota Create made zones/NAME with, undone by
	// Delete when the create fails later; nil on a volume resolved for an
	// existing zone, whose quota the manager's disk part removes.
	quota quota.Backend
}

// Volume is the volume of zone in pool ("" is the default pool). zone is
// a name the caller validated. An unknown pool is an ErrNotFound error.
func (s *Storage) Volume(poolName, zone string) (*Volume, error) {
	p, err := s.pool(poolName)
	if err != nil {
		return nil, fmt.Errorf("zone %q: %w", zone, err)
	}
	// A data dir on btrfs serves new zones with snapshots, but zones made
	// there before pools existed are overlay layers: their upper dir
	// says so. Generally: a default-pool layer without the pool backend's
	// writable dir but with another backend's was made by that one.
	if p.name == DefaultPool {
		if b := legacyBackend(p.backend, s.ZoneDir(zone)); b != nil {
			p = &pool{name: p.name, path: p.path, backend: b}
		}
	}
	return &Volume{s: s, zone: zone, p: p}, nil
}

// legacyBackend is the registered backend other than cur whose writable
// dir layerDir holds, when cur's is not there; nil when cur's is, or no
// other's is.
func legacyBackend(cur layerBackend, layerDir string) layerBackend {
	if _, err := os.Lstat(cur.WritableDir(layerDir)); err == nil {
		return nil
	}
	for _, e := range backends {
		if e.name == cur.Name() {
			continue
		}
		b := e.new()
		if _, err := os.Lstat(b.WritableDir(layerDir)); err == nil {
			return b
		}
	}
	return nil
}

// FindVolume is the volume of a zone whose pool no record names (`zoned
// recover`): the first registered pool holding a layer of that name, the
// default pool when none does.
func (s *Storage) FindVolume(zone string) *Volume {
	for _, info := range s.Pools() {
		if info.Name == DefaultPool {
			continue
		}
		if _, err := os.Lstat(filepath.Join(info.Path, "zones", zone)); err == nil {
			if v, err := s.Volume(info.Name, zone); err == nil {
				return v
			}
		}
	}
	v, _ := s.Volume(DefaultPool, zone) // the default pool always exists
	return v
}

// Zone names the zone whose layer this is.
func (v *Volume) Zone() string { return v.zone }

// Pool names the pool holding the layer.
func (v *Volume) Pool() string { return v.p.name }

// Backend names the backend that makes the layer ("overlay", "btrfs").
func (v *Volume) Backend() string { return v.p.backend.Name() }

// Dir is zones/NAME in the data dir: the zone's root mountpoint and the
// daemon's files, and its layer too in the default pool.
func (v *Volume) Dir() string { return v.s.ZoneDir(v.zone) }

// RootPath is the mountpoint of the zone's root.
func (v *Volume) RootPath() string { return v.s.ZoneRootPath(v.zone) }

// layer is where the zone's layer lives in its pool.
func (v *Volume) layer() string { return v.s.layerDir(v.zone, v.p) }

// LayerDir is the directory that holds the zone's own writes: the overlay
// upper dir, or the zone's btrfs subvolume. Disk quotas attach to it.
func (v *Volume) LayerDir() string { return v.p.backend.WritableDir(v.layer()) }

// RootMount is the mount that makes RootPath the zone's root filesystem.
func (v *Volume) RootMount(template string) specs.Mount {
	return v.p.backend.RootMount(v.layer(), v.RootPath(), v.s.poolTemplateRoot(v.p, template))
}
