package fsshare

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/quota"
)

// DefaultDataDir is where zoned keeps templates and zone layers unless told
// otherwise.
const DefaultDataDir = "/var/lib/zoned"

// Storage lays out templates and zone roots under one data directory:
//
//	DATA/templates/NAME/rootfs/    template root, the shared read-only lower layer
//	DATA/templates/.staging-*      builds in progress, renamed into place when complete
//	DATA/zones/NAME/upper/         the zone's own files (overlay upper dir)
//	DATA/zones/NAME/work/          overlay work dir
//	DATA/zones/NAME/root/          mountpoint of the zone's root
//	DATA/zones/NAME/{template,idmap,console.log,dev/...}  the daemon's own files
//
// Only upper/ and work/ belong to an unprivileged zone's IDs; zones/NAME
// itself stays host root's (see Volume.MapIDs), so the zone's IDs can never
// rename or replace the daemon's files.
//
// Storage never mounts a zone's root itself: the zone's init mounts
// Volume.RootMount inside the zone's own mount namespace, so a zone that dies
// leaks no mount on the host.
type Storage struct {
	dataDir string
	// backend serves the default pool, the data dir itself.
	backend layerBackend

	mu    sync.Mutex
	pools map[string]*pool // by name, the default pool included
	// limits are the host's caps on imports (SetImportLimits).
	limits ImportLimits
	// cacheDir keeps downloads and built roots between templates
	// (SetCacheDir).
	cacheDir string
}

// New prepares dataDir for use and returns a Storage over it.
func New(dataDir string) (*Storage, error) {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", dataDir, err)
	}
	// The overlay mount options are a comma-separated list with ':' between
	// lower dirs; a data dir holding either would be parsed wrongly by the
	// kernel.
	if strings.ContainsAny(abs, ",:\\\n") {
		return nil, fmt.Errorf("data dir %q must not contain ',', ':', '\\' or newlines: %w", abs, errdefs.ErrInvalid)
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		// 0711: zone processes never see these paths, but other host users
		// have no business listing templates or zones either.
		{abs, 0o711},
		{filepath.Join(abs, "templates"), 0o711},
		// zones/ is 0711 so that an unprivileged zone's first process,
		// root of its user namespace and nobody on the host, can reach
		// its own zones/NAME (host root's, group the zone's root, 0710,
		// see Volume.MapIDs) to attach its root there; no one can list zones/.
		{filepath.Join(abs, "zones"), 0o711},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("create %s: %w", d.path, err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", d.path, err)
		}
	}
	b, err := detectBackend(abs)
	if err != nil {
		return nil, fmt.Errorf("data dir %q: %w", abs, err)
	}
	s := &Storage{dataDir: abs, backend: b, limits: DefaultImportLimits(), cacheDir: DefaultCacheDir}
	s.pools = map[string]*pool{DefaultPool: {name: DefaultPool, path: abs, backend: b}}
	return s, nil
}

// DataDir is the directory Storage works in.
func (s *Storage) DataDir() string { return s.dataDir }

// Backend names the backend that makes zone layers in the default pool
// ("overlay" or "btrfs").
func (s *Storage) Backend() string { return s.backend.Name() }

func (s *Storage) templatesDir() string { return filepath.Join(s.dataDir, "templates") }
func (s *Storage) zonesDir() string     { return filepath.Join(s.dataDir, "zones") }

// ZoneDir is zones/NAME, the directory that holds everything of the zone on
// disk (the daemon keeps the zone's console.log there too).
func (s *Storage) ZoneDir(zone string) string { return filepath.Join(s.zonesDir(), zone) }

// ZoneRootPath is the mountpoint of the zone's root.
func (s *Storage) ZoneRootPath(zone string) string { return filepath.Join(s.ZoneDir(zone), "root") }

// Create makes the zone's own layer over template, under the disk quota
// limits (zero: none). The quota is part of the create: zones/NAME is made
// a project-quota directory or the mountpoint of the zone's disk image
// before the layer is made inside, a btrfs snapshot's qgroup is capped
// as it is made, so nothing the zone ever writes is outside the cap. A
// failure removes whatever it made; Delete on this Volume undoes a create
// that a later step of the zone's create failed.
func (v *Volume) Create(template string, l quota.Limits) (err error) {
	s, zone, p := v.s, v.zone, v.p
	if err := validate.Name("template", template); err != nil {
		return err
	}
	if !s.TemplateExists(template) {
		return fmt.Errorf("create root of zone %q: template %q: %w", zone, template, errdefs.ErrNotFound)
	}
	dir := v.Dir()
	qb, err := v.makeZoneDir(l)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create root of zone %q: %s exists: %w", zone, dir, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("create root of zone %q: %w", zone, err)
	}
	v.quota = qb
	layer := v.layer()
	defer func() {
		if err != nil {
			_ = v.Delete()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, templateLinkName), []byte(template+"\n"), 0o600); err != nil {
		return fmt.Errorf("create root of zone %q: %w", zone, err)
	}
	if p.name != DefaultPool {
		if err := os.Mkdir(layer, 0o700); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create root of zone %q: %s exists: %w", zone, layer, errdefs.ErrAlreadyExists)
			}
			return fmt.Errorf("create root of zone %q: %w", zone, err)
		}
	}
	if err := os.Mkdir(v.RootPath(), 0o755); err != nil {
		return fmt.Errorf("create root of zone %q: %w", zone, err)
	}
	troot, err := s.ensurePoolTemplate(p, template)
	if err != nil {
		return fmt.Errorf("create root of zone %q: %w", zone, err)
	}
	if err := p.backend.Create(layer, troot); err != nil {
		return fmt.Errorf("create root of zone %q in pool %q: %w", zone, p.name, err)
	}
	if err := v.limitLayer(l); err != nil {
		return fmt.Errorf("create root of zone %q: %w", zone, err)
	}
	return nil
}

// Delete removes everything the zone has on disk. It refuses while
// something is mounted on or below the zone's directory in the daemon's
// mount namespace; a zone that is gone already is not an error, so rollback
// paths may call it freely. On the Volume a Create made, it removes the
// disk quota that Create made too: the quota backend removes zones/NAME
// with its quota (a disk image mounted over it, a project ID it carries),
// once the layer made inside is gone.
func (v *Volume) Delete() error {
	zone := v.zone
	dir := v.Dir()
	if v.quota != nil {
		// The quota's removal takes what the layer's left, so it runs
		// whatever that did.
		lerr := v.deleteLayer()
		if err := v.quota.Remove(dir); err != nil {
			return errors.Join(lerr, fmt.Errorf("delete root of zone %q: disk quota: %w", zone, err))
		}
		v.quota = nil
		return nil
	}
	mounts, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("delete root of zone %q: %w", zone, err)
	}
	if len(mounts) > 0 {
		return fmt.Errorf("delete root of zone %q: %s is mounted: %w", zone, mounts[0], errdefs.ErrConflict)
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := v.deleteLayer(); err != nil {
		return err
	}
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("delete root of zone %q: %w", zone, err)
	}
	return nil
}

// deleteLayer removes the zone's snapshots and layer.
func (v *Volume) deleteLayer() error {
	zone, p, layer, dir := v.zone, v.p, v.layer(), v.Dir()
	if err := v.deleteSnapshots(); err != nil {
		return fmt.Errorf("delete root of zone %q: snapshots: %w", zone, err)
	}
	if err := p.backend.Delete(layer); err != nil {
		return fmt.Errorf("delete root of zone %q: %w", zone, err)
	}
	if layer != dir {
		if err := removeTree(layer); err != nil {
			return fmt.Errorf("delete root of zone %q: %w", zone, err)
		}
	}
	return nil
}

// Usage is the bytes the zone's own layer takes on disk: what the zone
// added or changed, not its template.
func (v *Volume) Usage() (int64, error) {
	zone, p := v.zone, v.p
	if _, err := os.Lstat(v.Dir()); err != nil {
		return 0, fmt.Errorf("usage of zone %q: %w", zone, errdefs.ErrNotFound)
	}
	n, err := p.backend.Usage(v.layer())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("usage of zone %q: %w", zone, errdefs.ErrNotFound)
		}
		return 0, fmt.Errorf("usage of zone %q: %w", zone, err)
	}
	return n, nil
}

// WriteFile writes data to p (a path inside the zone, like
// "/etc/hostname") in the zone's own layer, for the daemon to configure a
// stopped zone. It never follows a symlink in the zone's layer: a zone that
// made /etc a symlink to the host's /etc while it ran gets an error, not a
// write to the host. Missing parent directories are created with the
// template's modes and owners so the zone sees the same tree. The file is
// replaced atomically, which also replaces an overlay whiteout.
func (v *Volume) WriteFile(p string, data []byte, mode os.FileMode) error {
	s, zone := v.s, v.zone
	rel, err := cleanRel(p)
	if err != nil {
		return fmt.Errorf("write %q into zone %q: %w", p, zone, err)
	}
	if rel == "" {
		return fmt.Errorf("write %q into zone %q: not a file path: %w", p, zone, errdefs.ErrInvalid)
	}
	wdir := v.LayerDir()
	rootFD, err := unix.Open(wdir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("write %q into zone %q: %w", p, zone, errdefs.ErrNotFound)
		}
		return fmt.Errorf("write %q into zone %q: open %s: %w", p, zone, wdir, err)
	}
	defer unix.Close(rootFD)
	// The template is looked at only for the attributes of missing
	// directories.
	lower := s.zoneLower(zone)
	// An unprivileged zone's files are owned by its range of host IDs.
	shift := v.idShift()
	dir, base := path.Split(rel)
	pfd, err := walkDirs(rootFD, strings.TrimSuffix(dir, "/"), func(parentRel, name string, parentFD int) error {
		return mkdirLike(parentFD, name, lower, path.Join(parentRel, name), shift)
	})
	if err != nil {
		return fmt.Errorf("write %q into zone %q: %w", p, zone, err)
	}
	defer unix.Close(pfd)
	tmp := fmt.Sprintf(".zoned-write-%d-%d", os.Getpid(), writeSeq.Add(1))
	_ = unix.Unlinkat(pfd, tmp, 0)
	fd, err := unix.Openat(pfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("write %q into zone %q: %w", p, zone, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data)
	if werr == nil && shift > 0 {
		werr = f.Chown(shift, shift)
	}
	if werr == nil {
		werr = f.Chmod(mode.Perm() | mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = unix.Renameat(pfd, tmp, pfd, base)
	}
	if werr != nil {
		_ = unix.Unlinkat(pfd, tmp, 0)
		return fmt.Errorf("write %q into zone %q: %w", p, zone, werr)
	}
	return nil
}

// writeSeq keeps temporary names of concurrent WriteFile calls apart.
var writeSeq atomic.Uint64

// zoneLower is the template root the zone's layer sits on, read from the
// file Volume.Create leaves in the zone's directory. It is "" when unknown,
// which only costs default attributes for directories Volume.WriteFile makes.
func (s *Storage) zoneLower(zone string) string {
	b, err := os.ReadFile(filepath.Join(s.ZoneDir(zone), templateLinkName))
	if err != nil {
		return ""
	}
	name := strings.TrimSpace(string(b))
	if validate.Name("template", name) != nil {
		return ""
	}
	return s.TemplateRoot(name)
}

// templateLinkName is the file in the zone's directory naming its template,
// written by Volume.Create for tools and for Volume.WriteFile.
const templateLinkName = "template"

// cleanRel turns a path inside a root ("/etc/hostname", "etc/hostname")
// into a clean relative one ("etc/hostname"), refusing any ".." component
// even where it would stay inside: nothing legitimate needs one, and
// refusing is simpler to reason about than resolving. "" is the root.
func cleanRel(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path %q has a NUL byte: %w", p, errdefs.ErrInvalid)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("path %q has a '..' component: %w", p, errdefs.ErrInvalid)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+p), "/"), nil
}

// walkDirs opens the directory rel below rootFD one component at a time,
// never following a symlink, and returns an O_PATH descriptor of it. When a
// component is missing, missing(parentRel, name, parentFD) may create it;
// with a nil missing, ENOENT is returned. A component that is a symlink or
// not a directory is an ErrInvalid error.
func walkDirs(rootFD int, rel string, missing func(parentRel, name string, parentFD int) error) (int, error) {
	fd, err := unix.Openat(rootFD, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if rel == "" || rel == "." {
		return fd, nil
	}
	cur := ""
	for _, name := range strings.Split(rel, "/") {
		if name == "" || name == "." {
			continue
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && missing != nil {
			if err = missing(cur, name, fd); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if err != nil {
			unix.Close(fd)
			full := path.Join(cur, name)
			if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
				return -1, fmt.Errorf("%q is a symlink or not a directory: %w", full, errdefs.ErrInvalid)
			}
			return -1, fmt.Errorf("open %q: %w", full, err)
		}
		unix.Close(fd)
		fd = next
		cur = path.Join(cur, name)
	}
	return fd, nil
}

// mkdirLike creates name in parentFD with the mode and owner the same
// directory has in the template (lower/rel), or 0755 root when the template
// has none, so a directory the daemon creates in the zone's layer looks
// like the one the zone would have seen. shift is added to the owner: an
// unprivileged zone's IDs start there on the host.
func mkdirLike(parentFD int, name, lower, rel string, shift int) error {
	mode, uid, gid := uint32(0o755), 0, 0
	if lower != "" {
		if lfd, err := unix.Open(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			var st unix.Stat_t
			dir, base := path.Split(rel)
			dfd, err := walkDirs(lfd, strings.TrimSuffix(dir, "/"), nil)
			unix.Close(lfd)
			if err == nil {
				err = unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
				unix.Close(dfd)
				if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
					// A directory in the upper layer would hide the
					// template's symlink (/var/run -> /run) instead of
					// writing where the zone would.
					return fmt.Errorf("%q is a symlink or not a directory in the template: %w", rel, errdefs.ErrInvalid)
				}
				if err == nil {
					mode, uid, gid = st.Mode&0o7777, int(st.Uid), int(st.Gid)
				}
			}
		}
	}
	if err := unix.Mkdirat(parentFD, name, 0o700); err != nil {
		return err
	}
	if err := unix.Fchownat(parentFD, name, uid+shift, gid+shift, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.Fchmodat(parentFD, name, mode, 0)
}

// diskUsage is what the tree below dir costs on disk (usageWalk).
func diskUsage(dir string) (int64, error) {
	return usageWalk(dir)
}
