package manager

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/validate"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/store"
)

// Backups of the store: DATA-DIR/backup/zoned.db.<time>, one at start and
// then every backupInterval when something changed, backupKeep kept.
var (
	backupInterval = 15 * time.Minute
	backupKeep     = 8
)

func backupDir(cfg Config) string { return filepath.Join(cfg.DataDir, "backup") }

func (m *Manager) startBackups() {
	m.store.StartBackups(backupDir(m.cfg), backupInterval, backupKeep)
}

// openStore opens the daemon's store. A store with no records (missing,
// 0 bytes, no schema) is refused while the data directory holds zones:
// a daemon that started empty beside running zones would not see them,
// would stop what they use and would give their host ID ranges to new
// zones. Damage, a newer schema and that refusal all name the way out.
func openStore(cfg Config) (*store.Store, error) {
	st, err := store.OpenWith(cfg.StorePath, store.Options{
		Fresh:       func() error { return refuseFreshBesideZones(cfg) },
		Logger:      cfg.Logger,
		ReservedIDs: func() [][2]uint64 { return zoneDirIDRanges(cfg.DataDir) },
	})
	if err != nil {
		// The store's errors name its file already.
		if errors.Is(err, store.ErrNewerSchema) {
			return nil, fmt.Errorf("%w; run the zoned that wrote it, or %s", err, recoveryHint(cfg))
		}
		if errors.Is(err, store.ErrDamaged) || errors.Is(err, errFreshBesideZones) {
			return nil, fmt.Errorf("%w; %s", err, recoveryHint(cfg))
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	warnOrphans(cfg, st)
	return st, nil
}

// zoneDirIDRanges are the host ID ranges the zones' directories say they
// use (zones/NAME/idmap). The allocator skips them besides the records',
// so a zone whose record was quarantined or lost keeps its IDs to itself.
func zoneDirIDRanges(dataDir string) [][2]uint64 {
	var out [][2]uint64
	for _, name := range zoneDirNames(dataDir) {
		base, err := strconv.ParseUint(readLine(filepath.Join(dataDir, "zones", name, "idmap")), 10, 32)
		if err == nil && base > 0 {
			out = append(out, [2]uint64{base, base + IDMapSize})
		}
	}
	return out
}

// warnOrphans logs each zone directory that has no record (its record was
// quarantined, or the store lost it): the daemon does not manage such a
// zone until `zoned recover` rebuilds its record.
func warnOrphans(cfg Config, st *store.Store) {
	recs, err := st.ListZones()
	if err != nil {
		return
	}
	known := map[string]bool{}
	for _, r := range recs {
		known[r.Name] = true
	}
	for _, name := range zoneDirNames(cfg.DataDir) {
		if !known[name] {
			cfg.Logger.Error("zone directory has no record: this daemon does not manage the zone (its host IDs stay reserved); stop zoned and run zoned recover to rebuild it",
				"zone", name, "dir", filepath.Join(cfg.DataDir, "zones", name))
		}
	}
}

// errFreshBesideZones: an empty store while zones exist.
var errFreshBesideZones = fmt.Errorf("the store is missing or empty while zones exist (%w)", errdefs.ErrConflict)

func refuseFreshBesideZones(cfg Config) error {
	running := zoneCgroupProcs(cfg.CgroupParent)
	seen := map[string]bool{}
	var names []string
	for _, name := range zoneDirNames(cfg.DataDir) {
		seen[name] = true
		names = append(names, name)
	}
	for name := range running {
		if !seen[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil // a new data directory: start empty
	}
	sort.Strings(names)
	for i, name := range names {
		if len(running[name]) > 0 {
			names[i] += " (running)"
		}
	}
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return fmt.Errorf("%w: %s holds zones %s; refusing to start a daemon that would not know them",
		errFreshBesideZones, cfg.DataDir, strings.Join(names, ", "))
}

// recoveryHint is the command that gets a refused daemon going again.
func recoveryHint(cfg Config) string {
	args := "zoned recover -data-dir " + cfg.DataDir
	if cfg.StorePath != filepath.Join(cfg.DataDir, "zoned.db") {
		args += " -store " + cfg.StorePath
	}
	if cfg.CgroupParent != DefaultCgroupParent {
		args += " -cgroup-parent " + cfg.CgroupParent
	}
	if cfg.IDMapBase != DefaultIDMapBase {
		args += " -idmap-base " + strconv.FormatUint(uint64(cfg.IDMapBase), 10)
	}
	return fmt.Sprintf("to recover with no daemon running, run `%s -from-backup` (restore the newest good backup from %s) or `%s` (rebuild the records from the zones on disk and their processes); see docs/recovery.md",
		args, backupDir(cfg), args)
}

// zoneDirNames lists the zones' directories (zones/NAME) in dataDir.
func zoneDirNames(dataDir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dataDir, "zones"))
	var out []string
	for _, e := range entries {
		if e.IsDir() && validate.Name("zone", e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// zoneCgroupProcs maps each zone with processes in a group under parent to
// those pids. It reads /proc/PID/cgroup, which names the group in every
// hierarchy, so it works alike on cgroup v1, v2 and hybrid hosts.
func zoneCgroupProcs(parent string) map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	prefix := strings.TrimSuffix(parent, "/") + "/"
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 || !strings.HasPrefix(parts[2], prefix) {
				continue
			}
			zone, _, _ := strings.Cut(strings.TrimPrefix(parts[2], prefix), "/")
			if validate.Name("zone", zone) == nil {
				out[zone] = append(out[zone], pid)
			}
			break
		}
	}
	return out
}

// zoneInit picks a zone's init among its processes: the one that is PID 1
// of its own PID namespace with the fewest nested namespaces (a nested
// container's init inside the zone is deeper).
func zoneInit(pids []int) (pid int, startTime uint64, ok bool) {
	depth := 0
	for _, p := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			v, found := strings.CutPrefix(line, "NSpid:")
			if !found {
				continue
			}
			f := strings.Fields(v)
			if len(f) >= 2 && f[len(f)-1] == "1" && (!ok || len(f) < depth) {
				if st, err := namespaces.StartTime(p); err == nil && namespaces.Alive(p, st) {
					pid, startTime, ok, depth = p, st, true, len(f)
				}
			}
		}
	}
	return pid, startTime, ok
}

// RecoverOptions say how Recover gets the records back.
type RecoverOptions struct {
	// FromBackup restores a backup first: Backup, or when "" the newest
	// one in DATA-DIR/backup that passes the check.
	FromBackup bool
	Backup     string
	// Out is where Recover reports what it did and what it could not.
	Out io.Writer
}

// Recover gets a data directory whose store is lost, empty or damaged
// going again, with no daemon running (it takes the data directory's
// lock). It restores a backup if asked, then rebuilds from the disk and
// the running processes every zone record that is missing: name, template,
// pool, host ID range (the zone's idmap file or its layer's owner),
// hostname, the running init; and marks running the zones whose record
// says otherwise, so the next daemon adopts them instead of killing them.
// What it cannot rebuild (resource limits, NICs, labels, devices,
// autostart...) it says.
func Recover(cfg Config, o RecoverOptions) (err error) {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	// Recovery of a directory that is not there would make a new one.
	if fi, err := os.Stat(cfg.DataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory: %w", cfg.DataDir, errdefs.ErrInvalid)
	}
	lock, err := lockDataDir(cfg.DataDir, cfg.Logger)
	if err != nil {
		return fmt.Errorf("%w (stop it before recovering)", err)
	}
	defer lock.release()
	fsh, err := fsshare.New(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("open storage in %s: %w", cfg.DataDir, err)
	}
	if o.FromBackup {
		if err := restoreBackup(cfg, o.Backup, out); err != nil {
			return err
		}
	}
	st, err := store.OpenWith(cfg.StorePath, store.Options{Logger: cfg.Logger})
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrNewerSchema) {
		aside := cfg.StorePath + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
		fmt.Fprintf(out, "store %s cannot be used (%v); moved aside to %s, rebuilding a new one\n", cfg.StorePath, err, aside)
		if err := os.Rename(cfg.StorePath, aside); err != nil {
			return fmt.Errorf("move damaged store aside: %w", err)
		}
		st, err = store.OpenWith(cfg.StorePath, store.Options{Logger: cfg.Logger})
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	if q, _ := st.Quarantined(); len(q) > 0 {
		fmt.Fprintf(out, "quarantined records (did not decode, kept in the store's quarantine bucket): %s\n", strings.Join(q, ", "))
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, store: st, fs: fsh}
	if err := m.loadPools(); err != nil {
		return err
	}
	r := &recovery{m: m, out: out, procs: zoneCgroupProcs(cfg.CgroupParent)}
	if err := r.templates(); err != nil {
		return err
	}
	if err := r.zones(); err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d zone records rebuilt, %d updated; start zoned to adopt the running zones\n", r.rebuilt, r.updated)
	return nil
}

// restoreBackup puts a backup in place of the store (kept aside).
func restoreBackup(cfg Config, backup string, out io.Writer) error {
	candidates := []string{backup}
	if backup == "" {
		var err error
		if candidates, err = store.Backups(backupDir(cfg)); err != nil {
			return err
		}
		if len(candidates) == 0 {
			return fmt.Errorf("no backup in %s: %w (run `zoned recover` without -from-backup to rebuild from the zones)", backupDir(cfg), errdefs.ErrNotFound)
		}
	}
	for _, b := range candidates {
		if err := store.Verify(b); err != nil {
			fmt.Fprintf(out, "backup %s skipped: %v\n", b, err)
			continue
		}
		kept, err := store.Install(b, cfg.StorePath)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "restored %s from backup %s\n", cfg.StorePath, b)
		if kept != "" {
			fmt.Fprintf(out, "the previous store is kept as %s\n", kept)
		}
		return nil
	}
	return fmt.Errorf("no usable backup among %s: %w", strings.Join(candidates, ", "), store.ErrDamaged)
}

// recovery is one run of Recover.
type recovery struct {
	m                *Manager
	out              io.Writer
	procs            map[string][]int
	rebuilt, updated int
}

// templates gives every complete template on disk a record.
func (r *recovery) templates() error {
	entries, _ := os.ReadDir(filepath.Join(r.m.cfg.DataDir, "templates"))
	for _, e := range entries {
		name := e.Name()
		if !r.m.fs.TemplateExists(name) {
			continue
		}
		if _, err := r.m.store.GetTemplate(name); err == nil {
			continue
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		rec := &store.TemplateRecord{Name: name, Source: "tar", State: templateReady, CreatedAt: modTime(r.m.fs.TemplateRoot(name))}
		if name == BuiltinTemplate {
			rec.Source = "builtin"
		}
		if info, err := r.m.fs.DetectInit(name); err == nil {
			rec.Init = info.Kind
		}
		if err := r.m.store.CreateTemplate(rec); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "template %s: record rebuilt (its source, suite and packages are not known)\n", name)
	}
	return nil
}

func (r *recovery) zones() error {
	recs, err := r.m.store.ListZones()
	if err != nil {
		return err
	}
	byName := map[string]*store.ZoneRecord{}
	for _, rec := range recs {
		byName[rec.Name] = rec
	}
	onDisk := map[string]bool{}
	for _, name := range zoneDirNames(r.m.cfg.DataDir) {
		onDisk[name] = true
		pid, start, running := zoneInit(r.procs[name])
		if rec := byName[name]; rec != nil {
			if running && (rec.State != api.StateRunning || rec.InitPID != pid || rec.InitStartTime != start) {
				if _, err := r.m.store.UpdateZone(name, func(z *store.ZoneRecord) error {
					markRunning(z, pid, start)
					return nil
				}); err != nil {
					return err
				}
				r.updated++
				fmt.Fprintf(r.out, "zone %s: record kept, marked running (init pid %d)\n", name, pid)
			}
			continue
		}
		rec, err := r.rebuild(name, pid, start, running, recs)
		if err != nil {
			fmt.Fprintf(r.out, "zone %s: NOT rebuilt: %v\n", name, err)
			continue
		}
		// The zones rebuilt so far hold their host IDs too: two zone
		// directories naming one range get one record, never two zones
		// sharing host UIDs.
		recs = append(recs, rec)
		r.rebuilt++
	}
	for name := range r.procs {
		if !onDisk[name] {
			fmt.Fprintf(r.out, "cgroup %s/%s has processes but the zone has no directory in %s: not rebuilt, it is not zoned's to adopt\n", r.m.cfg.CgroupParent, name, r.m.cfg.DataDir)
		}
	}
	for _, rec := range recs {
		if !onDisk[rec.Name] && rec.State != api.StateCreating && rec.State != api.StateDestroying {
			fmt.Fprintf(r.out, "zone %s: has a record but no directory (destroyed after the backup?): destroy it with `zonectl destroy %s`\n", rec.Name, rec.Name)
		}
	}
	return nil
}

func markRunning(z *store.ZoneRecord, pid int, start uint64) {
	now := time.Now().UTC()
	z.State = api.StateRunning
	z.InitPID, z.InitStartTime = pid, start
	if z.StartedAt == nil {
		z.StartedAt = &now
	}
}

// rebuild makes the record of a zone that has a directory and none.
func (r *recovery) rebuild(name string, pid int, start uint64, running bool, others []*store.ZoneRecord) (*store.ZoneRecord, error) {
	fsh := r.m.fs
	dir := fsh.ZoneDir(name)
	template := readLine(filepath.Join(dir, "template"))
	if template == "" {
		return nil, fmt.Errorf("%s has no template file: not a zone directory zoned made", dir)
	}
	rec := &store.ZoneRecord{
		Name:      name,
		UUID:      newUUID(),
		Template:  template,
		Hostname:  name,
		State:     api.StateStopped,
		CreatedAt: modTime(dir),
	}
	// Nothing in the zone's directory names its pool (the record did):
	// the layer is looked for in every pool with a record.
	vol := fsh.FindVolume(name)
	rec.Pool = vol.Pool()
	if _, err := os.Lstat(vol.LayerDir()); err != nil {
		// A record naming the wrong pool would be worse than none.
		return nil, fmt.Errorf("its layer is in no pool with a record: bring its pool back (`zonectl storage create POOL --path DIR` with its old directory) and recover again")
	}
	if h := readLine(filepath.Join(vol.LayerDir(), "etc", "hostname")); h != "" && validate.Hostname(h) == nil {
		rec.Hostname = h
	}
	// The host ID range: the idmap file Volume.MapIDs wrote, or else the
	// owner it gave the zone's layer (the zone's directory itself is host
	// root's); a root-owned layer and no file is a privileged zone.
	base, err := strconv.ParseUint(readLine(filepath.Join(dir, "idmap")), 10, 32)
	if err != nil {
		var st syscall.Stat_t
		if err := syscall.Stat(vol.LayerDir(), &st); err != nil {
			return nil, err
		}
		base = uint64(st.Uid)
	}
	if base == 0 {
		rec.Privileged = true
	} else {
		rec.IDMapBase, rec.IDMapSize = uint32(base), IDMapSize
		for _, o := range others {
			if o.IDMapSize > 0 && uint64(o.IDMapBase) < base+IDMapSize && base < uint64(o.IDMapBase)+uint64(o.IDMapSize) {
				return nil, fmt.Errorf("its host IDs %d-%d overlap those of zone %s", base, base+IDMapSize-1, o.Name)
			}
		}
	}
	spec := namespaces.DefaultSpec(name, rec.Hostname, []string{"/sbin/init"})
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	if info, err := fsh.DetectInit(template); err == nil {
		spec.Annotations[stopSignalAnnotation] = strconv.Itoa(int(info.StopSignal))
		spec.Annotations[initKindAnnotation] = info.Kind
	} else {
		fmt.Fprintf(r.out, "zone %s: its template %s is missing (%v): the zone cannot start until it is back\n", name, template, err)
	}
	spec.Linux.CgroupsPath = r.m.cgroupPath(name)
	spec.Linux.Resources = cgroups.ToSpec(rec.Resources)
	if !rec.Privileged {
		namespaces.SetUserNamespace(spec, rec.IDMapBase, rec.IDMapSize)
	}
	rec.Spec, rec.CgroupPath = spec, spec.Linux.CgroupsPath
	if running {
		markRunning(rec, pid, start)
	}
	if err := r.m.store.CreateZone(rec); err != nil {
		return nil, err
	}
	what := "stopped"
	if running {
		what = fmt.Sprintf("running, init pid %d", pid)
	}
	ids := "privileged"
	if !rec.Privileged {
		ids = fmt.Sprintf("host IDs %d-%d", rec.IDMapBase, rec.IDMapBase+rec.IDMapSize-1)
	}
	fmt.Fprintf(r.out, "zone %s: record rebuilt (template %s, pool %s, %s, hostname %s, %s)\n", name, template, rec.Pool, ids, rec.Hostname, what)
	fmt.Fprintf(r.out, "zone %s: NOT recovered: resource limits, NICs and their addresses, port forwards, DNS, labels, devices, autostart and snapshot records; set them again (zonectl update) and check its network\n", name)
	return rec, nil
}

// readLine is the first line of a small file, "" when it cannot be read.
func readLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(line)
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return time.Now().UTC()
	}
	return fi.ModTime().UTC()
}
