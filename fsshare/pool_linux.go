package fsshare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// DefaultPool is the pool that is the data dir itself; it always exists.
const DefaultPool = "default"

// A pool is a directory where zone layers live, with the backend that
// makes them. Its layout:
//
//	POOL/zones/NAME/                 the zone's layer (overlay upper+work, or btrfs rootfs subvolume)
//	POOL/subvolumes/templates/NAME   backends that copy templates (btrfs): the pool's copy, made once
//
// In the default pool POOL is the data dir, so a zone's layer and its
// metadata (console.log, template, idmap, root mountpoint) share zones/NAME.
// Nothing in zones/NAME names the pool: the zone's store record does, and
// the manager gets the zone's Volume from it (older versions wrote a
// zones/NAME/pool file, read by nothing now and left alone).
type pool struct {
	name    string
	path    string
	backend layerBackend
}

// PoolInfo describes a pool.
type PoolInfo struct {
	Name    string
	Path    string
	Backend string
}

// LayerQuota names the quota kind that caps a zone's layer itself in
// the pool (quota.BtrfsQgroup), "" where the host filesystem's quota on
// the zone's directory does (or for an unknown backend).
func (i PoolInfo) LayerQuota() string {
	if b := backendNamed(i.Backend); b != nil {
		return b.LayerQuota()
	}
	return ""
}

// CopiesTemplates says the pool keeps its own copy of each template its
// zones use (see Storage.PoolTemplateSize).
func (i PoolInfo) CopiesTemplates() bool {
	b := backendNamed(i.Backend)
	return b != nil && b.CopiesTemplates()
}

// FullExportNeedsStop says a full export of a zone in the pool needs the
// zone stopped: its whole root can be read only while its layer is not
// mounted by the zone.
func (i PoolInfo) FullExportNeedsStop() bool {
	b := backendNamed(i.Backend)
	return b != nil && !b.ReadRootLive()
}

// AddPool makes dir a pool named name, or registers it again after a
// restart (the manager's store is the list of pools). backend "" picks
// the backend from dir's filesystem; an explicit backend the filesystem
// cannot serve is an ErrInvalid error. dir is created if missing.
func (s *Storage) AddPool(name, dir, backend string) (PoolInfo, error) {
	if err := validate.Name("pool", name); err != nil {
		return PoolInfo{}, errdefs.WithField("name", err)
	}
	if name == DefaultPool {
		return PoolInfo{}, errdefs.WithField("name", fmt.Errorf("pool %q is the data dir and always exists: %w", name, errdefs.ErrAlreadyExists))
	}
	if !filepath.IsAbs(dir) {
		return PoolInfo{}, errdefs.WithField("path", fmt.Errorf("pool path %q must be absolute: %w", dir, errdefs.ErrInvalid))
	}
	dir = filepath.Clean(dir)
	if strings.ContainsAny(dir, ",:\\\n") {
		return PoolInfo{}, errdefs.WithField("path", fmt.Errorf("pool path %q must not contain ',', ':', '\\' or newlines (overlay mount options): %w", dir, errdefs.ErrInvalid))
	}
	if dir == "/" || within(dir, s.dataDir) || within(s.dataDir, dir) {
		return PoolInfo{}, errdefs.WithField("path", fmt.Errorf("pool path %q must not be, hold or lie in the data dir %s: %w", dir, s.dataDir, errdefs.ErrInvalid))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pools[name]; ok {
		return PoolInfo{}, errdefs.WithField("name", fmt.Errorf("pool %q: %w", name, errdefs.ErrAlreadyExists))
	}
	for _, p := range s.pools {
		if within(dir, p.path) || within(p.path, dir) {
			return PoolInfo{}, errdefs.WithField("path", fmt.Errorf("pool path %q overlaps pool %q at %s: %w", dir, p.name, p.path, errdefs.ErrConflict))
		}
	}
	// The backend is checked on the nearest directory that exists, so a
	// refused pool leaves no directory behind.
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil || existing == "/" {
			break
		}
		existing = filepath.Dir(existing)
	}
	b, err := backendFor(existing, backend)
	if err != nil {
		return PoolInfo{}, fmt.Errorf("pool %q: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return PoolInfo{}, errdefs.WithField("path", fmt.Errorf("pool %q: %w", name, err))
	}
	p := &pool{name: name, path: dir, backend: b}
	for _, d := range []string{filepath.Join(dir, "zones"), filepath.Join(dir, "subvolumes", "templates")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return PoolInfo{}, fmt.Errorf("pool %q: %w", name, err)
		}
	}
	s.pools[name] = p
	return p.info(), nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// RemovePool forgets pool name and removes what zoned made in it (the
// template copies); the caller checks that no zone uses it. The pool's
// directory itself stays: the operator made it.
func (s *Storage) RemovePool(name string) error {
	if name == DefaultPool {
		return fmt.Errorf("delete pool %q: the default pool is the data dir: %w", name, errdefs.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pools[name]
	if !ok {
		return fmt.Errorf("delete pool %q: %w", name, errdefs.ErrNotFound)
	}
	entries, err := os.ReadDir(filepath.Join(p.path, "zones"))
	if err == nil && len(entries) > 0 {
		return fmt.Errorf("delete pool %q: %s still holds zone layers: %w", name, filepath.Join(p.path, "zones"), errdefs.ErrConflict)
	}
	tdir := filepath.Join(p.path, "subvolumes", "templates")
	tents, _ := os.ReadDir(tdir)
	for _, e := range tents {
		if err := removeSubvolumeOrDir(filepath.Join(tdir, e.Name())); err != nil {
			return fmt.Errorf("delete pool %q: %w", name, err)
		}
	}
	for _, d := range []string{tdir, filepath.Join(p.path, "subvolumes"), filepath.Join(p.path, "zones")} {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete pool %q: %w", name, err)
		}
	}
	delete(s.pools, name)
	return nil
}

// Pools lists the pools, the default one first.
func (s *Storage) Pools() []PoolInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PoolInfo, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == DefaultPool) != (out[j].Name == DefaultPool) {
			return out[i].Name == DefaultPool
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Pool describes pool name ("" is the default pool).
func (s *Storage) Pool(name string) (PoolInfo, error) {
	p, err := s.pool(name)
	if err != nil {
		return PoolInfo{}, err
	}
	return p.info(), nil
}

func (p *pool) info() PoolInfo {
	return PoolInfo{Name: p.name, Path: p.path, Backend: p.backend.Name()}
}

func (s *Storage) pool(name string) (*pool, error) {
	if name == "" {
		name = DefaultPool
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pools[name]
	if !ok {
		return nil, errdefs.WithField("pool", fmt.Errorf("pool %q: %w", name, errdefs.ErrNotFound))
	}
	return p, nil
}

// layerDir is where the zone's layer lives in pool p.
func (s *Storage) layerDir(zone string, p *pool) string {
	if p.name == DefaultPool {
		return s.ZoneDir(zone)
	}
	return filepath.Join(p.path, "zones", zone)
}

// poolTemplateRoot is the root of template as zones in pool p use it.
func (s *Storage) poolTemplateRoot(p *pool, template string) string {
	if p.backend.CopiesTemplates() {
		return filepath.Join(p.path, "subvolumes", "templates", template)
	}
	return s.TemplateRoot(template)
}

// ensurePoolTemplate makes the template usable in pool p and returns its
// root there: the template where it is, or the pool's own copy (a btrfs
// pool needs it as a subvolume of its own filesystem to snapshot), made
// once per pool by the backend.
func (s *Storage) ensurePoolTemplate(p *pool, template string) (string, error) {
	dst := s.poolTemplateRoot(p, template)
	if !p.backend.CopiesTemplates() {
		return dst, nil
	}
	// One copy at a time per Storage: the first zone on a template pays
	// for it, the others wait and find it made.
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Lstat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o711); err != nil {
		return "", fmt.Errorf("template %q in pool %q: %w", template, p.name, err)
	}
	if err := p.backend.CopyTemplate(s.TemplateRoot(template), dst); err != nil {
		return "", fmt.Errorf("template %q in pool %q: %w", template, p.name, err)
	}
	return dst, nil
}

// deletePoolTemplates removes the per-pool copies of template.
func (s *Storage) deletePoolTemplates(template string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.pools {
		if !p.backend.CopiesTemplates() {
			continue
		}
		if err := removeSubvolumeOrDir(s.poolTemplateRoot(p, template)); err != nil {
			errs = append(errs, fmt.Errorf("pool %q: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// cleanupPools removes template copies that an interrupted
// ensurePoolTemplate left in pools.
func (s *Storage) cleanupPools() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.pools {
		dir := filepath.Join(p.path, "subvolumes", "templates")
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), stagingPrefix) {
				if err := removeSubvolumeOrDir(filepath.Join(dir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// PoolTemplateSize is the bytes template's copy in pool takes on disk
// that nothing else shares; 0 where the pool uses the template in place.
func (s *Storage) PoolTemplateSize(poolName, template string) (int64, error) {
	p, err := s.pool(poolName)
	if err != nil {
		return 0, err
	}
	if !p.backend.CopiesTemplates() {
		return 0, nil
	}
	dst := s.poolTemplateRoot(p, template)
	if _, err := os.Lstat(dst); err != nil {
		return 0, nil
	}
	return p.backend.TemplateCopySize(dst)
}
