package fsshare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zoned-project/zoned/quota"
)

// ImagesDir is where the image quota backend keeps zones' disk images,
// beside zones/ and not in it: each image is mounted over zones/NAME.
func (s *Storage) ImagesDir() string { return filepath.Join(s.dataDir, "disks") }

// makeZoneDir makes zones/NAME for a new zone under limits: a plain 0700
// directory without a cap or where the backend caps the layer itself (a
// btrfs pool's zone is a snapshot made inside, capped by limitLayer), else a directory the quota backend
// of the zones' filesystem makes (a project-quota directory, the
// mountpoint of the zone's disk image), so that a layer made inside is
// under the quota from its first byte. It returns the backend, nil for a
// plain directory; an existing directory is an fs.ErrExist error.
func (v *Volume) makeZoneDir(l quota.Limits) (quota.Backend, error) {
	dir := v.Dir()
	if l.Bytes == 0 || v.p.backend.LayerQuota() != "" {
		// Mkdir, not MkdirAll: it is what tells us another zone has the name.
		return nil, os.Mkdir(dir, 0o700)
	}
	b, err := quota.For(filepath.Dir(dir), v.s.ImagesDir())
	if err != nil {
		return nil, err
	}
	if err := b.Make(dir, l); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("disk quota (%s): %w", b.Name(), err)
	}
	return b, nil
}

// limitLayer caps a zone whose backend caps the layer itself (a btrfs
// pool's snapshot's qgroup), made with the layer.
func (v *Volume) limitLayer(l quota.Limits) error {
	kind := v.p.backend.LayerQuota()
	if l.Bytes == 0 || kind == "" {
		return nil
	}
	if err := v.p.backend.LimitLayer(v.LayerDir(), l); err != nil {
		return fmt.Errorf("disk quota (%s): %w", kind, err)
	}
	return nil
}
