//go:build linux

// Package manager is zoned's zone manager: it owns the order of operations
// on zones and templates and their undo. Every call on one zone runs under
// that zone's lock, calls on different zones run in parallel. Each step that
// changes the host is written to the store first with a transient state
// (creating, starting, stopping, destroying), so a daemon that dies half way
// finds on its next start (Reconcile) what to finish or undo.
//
// The manager knows nothing of HTTP: it returns errors classified by the
// errdefs sentinels, and the server package maps them to status codes.
package manager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/manager/part/disk"
	"github.com/zoned-project/zoned/manager/part/network"
	"github.com/zoned-project/zoned/manager/part/view"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// Version is the daemon's version, set at build time with -ldflags.
var Version = "dev"

// Defaults of a daemon started without flags.
const (
	DefaultDataDir      = "/var/lib/zoned"
	DefaultCgroupParent = "/zoned"
	DefaultCacheDir     = fsshare.DefaultCacheDir
	// BuiltinTemplate is the busybox template zoned builds itself on first
	// use, from Debian's busybox-static package.
	BuiltinTemplate = "busybox"
	// DefaultIDMapBase is where unprivileged zones' host ID ranges start:
	// 2^20, far above the IDs distributions give users (below 65536, and
	// subuid ranges from 100000 for a handful of users) and a multiple
	// of IDMapSize, so ranges are aligned.
	DefaultIDMapBase = 1 << 20
	// IDMapSize is the number of host UIDs (and GIDs) each unprivileged
	// zone gets: 0..65535 inside, what a Debian system uses (nobody is
	// 65534).
	IDMapSize = 65536
)

// Config is what a Manager needs.
type Config struct {
	// DataDir holds the store, templates and zone layers.
	DataDir string
	// StorePath is the bbolt file; "" means DataDir/zoned.db.
	StorePath string
	// CacheDir keeps templates' downloads and built Debian roots between
	// templates; "" means DefaultCacheDir.
	CacheDir string
	// CgroupParent is the absolute cgroup under which each zone gets its
	// own group; zoned owns it and nothing else.
	CgroupParent string
	// IDMapBase is the first host ID given to unprivileged zones; each
	// takes IDMapSize IDs from there. 0 means DefaultIDMapBase. No host
	// user or group should have an ID at or above it.
	IDMapBase uint32
	// ImportMaxBytes and ImportMaxEntries cap what one archive (a
	// template, an export) may unpack to; 0 means fsshare's defaults.
	ImportMaxBytes, ImportMaxEntries int64
	// CgroupTree bounds the groups a zone creates below its own; nil
	// means cgroups.DefaultTreeLimits (limits.go).
	CgroupTree *cgroups.TreeLimits
	// UserNSLimits are an unprivileged zone's /proc/sys/user maxima; nil
	// means namespaces.DefaultUserNSLimits() (limits.go).
	UserNSLimits namespaces.UserNSLimits
	Logger       *slog.Logger
}

// Manager runs zones.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	fs    *fsshare.Storage
	ops   *operations
	// rt, cg and roots are the host the lifecycle drives: the zone
	// runtime, the cgroup driver and the zones' root storage
	// (seams_linux.go), the real ones unless a test passes fakes.
	rt    zoneRuntime
	cg    cgroupDriver
	roots rootStorage
	// parts are what zones hold beside root and cgroup, in the order
	// part.Order works out from their After: create and start call them
	// in this order, stop and destroy in reverse.
	parts []part.Part
	// disk is the disk quota part of parts, which the /proc view and
	// disk usage ask how to read a zone's disk.
	disk *disk.Part
	// net is the network part of parts, behind the API's networks, NICs
	// and port forwards.
	net *network.Part
	// events tells subscribers (GET /v1/events) what happens.
	events *eventHub

	mu      sync.Mutex
	locks   map[string]*zoneLock
	running map[string]*runtimeZone
	// tmplMu keeps a template from being deleted while a zone is being
	// created from it: creates hold it for reading, deletes for writing.
	tmplMu sync.RWMutex
	// builtinMu makes concurrent first creates build the built-in
	// template once.
	builtinMu sync.Mutex
	// rootProbes remembers pool/template pairs whose idmapped root was
	// built once (see probeRootOnce).
	rootProbes sync.Map

	wg sync.WaitGroup // exit watchers, so Close can wait for them

	// autostartCancel ends a boot's autostart (on Close or host
	// shutdown); autostartDone is closed when it has ended.
	autostartCancel context.CancelFunc
	autostartDone   chan struct{}

	// dirLock is the data directory's lock, held for the daemon's life.
	dirLock *dataDirLock
}

type zoneLock struct {
	mu   sync.Mutex
	refs int
}

// New opens the store and storage under cfg and reconciles what the store
// says with what the kernel has (see Reconcile).
func New(cfg Config) (*Manager, error) {
	return newWith(cfg, deps{})
}

// newWith is New with the seams d gives (seams_linux.go); what d leaves
// nil is the real thing.
func newWith(cfg Config, d deps) (_ *Manager, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.limitDefaults(); err != nil {
		return nil, err
	}
	// The data directory is locked before anything in it is touched: a
	// second daemon must not adopt the first one's zones (recover_linux.go).
	dirLock, err := lockDataDir(cfg.DataDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			dirLock.release()
		}
	}()
	fs, err := fsshare.New(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open storage in %s: %w", cfg.DataDir, err)
	}
	fs.SetImportLimits(importLimits(cfg))
	fs.SetCacheDir(cfg.CacheDir)
	st, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   st,
		fs:      fs,
		ops:     newOperations(st, cfg.Logger),
		rt:      d.runtime,
		cg:      d.cgroups,
		roots:   d.roots,
		events:  newEventHub(),
		locks:   map[string]*zoneLock{},
		running: map[string]*runtimeZone{},
		dirLock: dirLock,
	}
	if m.rt == nil {
		m.rt = nsRuntime{}
	}
	if m.cg == nil {
		m.cg = hostCgroups{}
	}
	if m.roots == nil {
		m.roots = fsRoots{fs}
	}
	m.events.log = m.log.Warn
	m.disk = disk.New(partHost{m}, fs)
	m.net = newNetPart(m)
	parts := m.zoneParts
	if d.parts != nil {
		parts = func() []part.Part { return d.parts(m) }
	}
	// Each part says what it runs after (its After); part.Order checks
	// those names and works the order out.
	if m.parts, err = part.Order(parts()); err != nil {
		st.Close()
		return nil, err
	}
	m.ops.publish = m.events.publish
	m.ops.onRestart["template-create"] = m.restartTemplateBuild
	m.ops.onRestart["snapshot-create"] = m.restartSnapshot
	m.ops.onRestart["zone-import"] = m.restartImport
	m.ops.onRestart["zone-export"] = m.restartExport
	if err := m.loadPools(); err != nil {
		st.Close()
		return nil, err
	}
	if err := m.reconcile(context.Background()); err != nil {
		st.Close()
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	// Zones made by older versions had their directory owned by the
	// zone's root; give the daemon's files back to host root. After
	// reconcile, which mounts zones' disk images over their directories.
	if err := fs.HardenZoneDirs(); err != nil {
		m.log.Warn("zone directories left as older versions made them", "err", err)
	}
	m.startBackups()
	// Autostart runs behind reconcile, not inside it: with priorities,
	// delays and retries it can take minutes, and the API (and systemd's
	// READY) must not wait for it.
	ctx, cancel := context.WithCancel(context.Background())
	m.autostartCancel, m.autostartDone = cancel, make(chan struct{})
	go func() {
		defer close(m.autostartDone)
		m.autostart(ctx)
	}()
	return m, nil
}

// zoneParts lists every part a zone has. Their order here does not
// matter beyond ties: each says what it comes after.
func (m *Manager) zoneParts() []part.Part {
	return []part.Part{
		m.disk,
		newResourcePart(partHost{m}),
		m.net,
		view.New(partHost{m}, m.viewDisk),
		labelsPart{},
		newSnapshotPart(m),
	}
}

// Close releases the store. Running zones keep running: they outlive the
// daemon and the next one adopts them.
func (m *Manager) Close() error {
	m.stopAutostart()
	for _, p := range m.parts {
		if c, ok := p.(part.Closer); ok {
			c.Close()
		}
	}
	m.ops.close()
	m.events.close()
	m.mu.Lock()
	for _, rz := range m.running {
		rz.detach()
	}
	idle := len(m.running) == 0
	m.mu.Unlock()
	if idle {
		// Nothing of zoned stays without zones: the zones' parent
		// group goes too (the next zone's start makes it again).
		if err := m.cg.RemoveEmpty(m.cfg.CgroupParent); err != nil {
			m.log.Debug("keep the zones' parent cgroup", "cgroup", m.cfg.CgroupParent, "err", err)
		}
	}
	err := m.store.Close()
	m.dirLock.release()
	return err
}

// setDefaults fills what cfg leaves empty and checks the rest.
func (cfg *Config) setDefaults() error {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.StorePath == "" {
		cfg.StorePath = filepath.Join(cfg.DataDir, "zoned.db")
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	if !strings.HasPrefix(cfg.CgroupParent, "/") {
		return fmt.Errorf("cgroup parent %q must be an absolute path", cfg.CgroupParent)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.IDMapBase == 0 {
		cfg.IDMapBase = DefaultIDMapBase
	}
	if cfg.IDMapBase < IDMapSize {
		return fmt.Errorf("ID map base %d must be at least %d: zones' host IDs must not be the host's own", cfg.IDMapBase, IDMapSize)
	}
	return nil
}

// lock serializes calls on one zone; the returned func unlocks.
func (m *Manager) lock(name string) func() {
	m.mu.Lock()
	l := m.locks[name]
	if l == nil {
		l = &zoneLock{}
		m.locks[name] = l
	}
	l.refs++
	m.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		m.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(m.locks, name)
		}
		m.mu.Unlock()
	}
}

func (m *Manager) cgroupPath(zone string) string {
	return m.cfg.CgroupParent + "/" + zone
}

// Info describes the daemon.
func (m *Manager) Info(ctx context.Context) (*api.Info, error) {
	recs, err := m.store.ListZoneSummaries()
	if err != nil {
		return nil, err
	}
	running := 0
	for _, r := range recs {
		if r.State == api.StateRunning {
			running++
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return &api.Info{
		Version:    Version,
		APIVersion: api.Version,
		Kernel:     strings.TrimSpace(string(kernel)),
		CgroupMode: cgroups.Mode(),
		DataDir:    m.cfg.DataDir,
		Zones:      len(recs),
		Running:    running,
	}, nil
}

// withZone runs fn with the record of zone name under the zone's lock and
// wraps any error as `<verb> zone "name": …`. Every call that changes one
// zone goes through it, so none can skip the lock or the error's context.
func (m *Manager) withZone(verb, name string, fn func(rec *store.ZoneRecord) error) error {
	if err := validate.Name("zone", name); err != nil {
		return err
	}
	unlock := m.lock(name)
	defer unlock()
	rec, err := m.store.GetZone(name)
	if err == nil {
		err = fn(rec)
	}
	if err != nil {
		return fmt.Errorf("%s zone %q: %w", verb, name, err)
	}
	return nil
}
