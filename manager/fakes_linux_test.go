package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/quota"
	"github.com/zoned-project/zoned/store"
)

// The fakes below stand for the host the manager drives (seams_linux.go),
// so its lifecycle runs without root. They write every call to one
// callLog, in the order the manager makes them, and fail the call a test
// names.

// callLog is the calls the fakes saw, in order, and the calls that fail.
type callLog struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error
}

// call records op and returns the error a test set for it.
func (l *callLog) call(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, op)
	return l.fail[op]
}

// failOn makes op fail with a recognizable error.
func (l *callLog) failOn(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail == nil {
		l.fail = map[string]error{}
	}
	err := fmt.Errorf("fake %s failed", op)
	l.fail[op] = err
	return err
}

func (l *callLog) clearFailures() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail = nil
}

// take returns the calls so far and starts a new list.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// only keeps the calls with one of prefixes.
func only(calls []string, prefixes ...string) []string {
	var out []string
	for _, c := range calls {
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// fakeRuntime runs fake inits: processes that are only a channel closed
// when they "exit".
type fakeRuntime struct {
	log     *callLog
	mu      sync.Mutex
	nextPID int
	inits   map[int]*fakeInit
	// deaf inits ignore their stop signal (a stop must time out).
	deaf bool
	// stopStatus is how an init that got its stop signal ends.
	stopStatus namespaces.ExitStatus
	// spawned is the SpawnOptions of each spawn.
	spawned []namespaces.SpawnOptions
}

type fakeInit struct {
	rt     *fakeRuntime
	pid    int
	start  uint64
	done   chan struct{}
	once   sync.Once
	status namespaces.ExitStatus
	// known is what WaitExited says for an adopted init.
	known bool
	// console is the init's end of the zone's console, as a real init
	// holds it; closed when it exits.
	console *os.File
}

func newFakeRuntime(log *callLog) *fakeRuntime {
	// The fake pids are above the kernel's pid_max: /proc has none.
	return &fakeRuntime{log: log, nextPID: 1 << 22, inits: map[int]*fakeInit{},
		stopStatus: namespaces.ExitStatus{Signal: syscall.SIGINT}}
}

// running adds an init the daemon did not spawn (one to adopt).
func (rt *fakeRuntime) running(pid int, start uint64) *fakeInit {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	i := &fakeInit{rt: rt, pid: pid, start: start, done: make(chan struct{}), known: true}
	rt.inits[pid] = i
	return i
}

func (rt *fakeRuntime) init(pid int) *fakeInit {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.inits[pid]
}

func (i *fakeInit) exit(st namespaces.ExitStatus) {
	i.once.Do(func() {
		i.status = st
		if i.console != nil {
			i.console.Close()
		}
		close(i.done)
	})
}

// last is the init spawned last.
func (rt *fakeRuntime) last() *fakeInit {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.inits[rt.nextPID]
}

func (i *fakeInit) exited() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

func (rt *fakeRuntime) Spawn(opts namespaces.SpawnOptions) (spawnedInit, error) {
	if err := rt.log.call("runtime.spawn"); err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.nextPID++
	i := &fakeInit{rt: rt, pid: rt.nextPID, start: 42, done: make(chan struct{}), known: true}
	rt.inits[i.pid] = i
	rt.spawned = append(rt.spawned, opts)
	rt.mu.Unlock()
	if opts.Console != nil {
		fd, err := unix.Dup(int(opts.Console.Fd()))
		if err != nil {
			return nil, err
		}
		i.console = os.NewFile(uintptr(fd), opts.Console.Name())
	}
	// As namespaces.Spawn: Setup runs while the child waits, and its
	// error kills the child and fails the spawn.
	if opts.Setup != nil {
		if err := opts.Setup(i.pid); err != nil {
			i.exit(namespaces.ExitStatus{Signal: syscall.SIGKILL})
			return nil, err
		}
	}
	return i, nil
}

func (rt *fakeRuntime) Alive(pid int, startTime uint64) bool {
	i := rt.init(pid)
	return i != nil && i.start == startTime && !i.exited()
}

func (rt *fakeRuntime) Signal(pid int, startTime uint64, sig syscall.Signal) error {
	if err := rt.log.call("runtime.signal " + unix.SignalName(sig)); err != nil {
		return err
	}
	i := rt.init(pid)
	if i == nil || i.start != startTime || i.exited() {
		return os.ErrProcessDone
	}
	switch {
	case sig == syscall.SIGKILL:
		i.exit(namespaces.ExitStatus{Signal: syscall.SIGKILL})
	case !rt.deaf:
		i.exit(rt.stopStatus)
	}
	return nil
}

func (rt *fakeRuntime) WaitExited(pid int, startTime uint64) (namespaces.ExitStatus, bool, error) {
	i := rt.init(pid)
	if i == nil {
		return namespaces.ExitStatus{}, false, nil
	}
	<-i.done
	return i.status, i.known, nil
}

func (rt *fakeRuntime) OpenConsole(owner int) (master, slave *os.File, err error) {
	if err := rt.log.call("runtime.console"); err != nil {
		return nil, nil, err
	}
	return pty.Open()
}

func (rt *fakeRuntime) ProbeIDMappedRoot(*specs.Spec, specs.Mount) error {
	return rt.log.call("runtime.probe")
}

// Exec "runs" a command: it joins the zone's cgroup as a real one does,
// writes what it ran on its stdout and ends with code len(args).
func (rt *fakeRuntime) Exec(opts namespaces.ExecOptions) (execProcess, error) {
	if err := rt.log.call("runtime.exec"); err != nil {
		return nil, err
	}
	if i := rt.init(opts.InitPid); i == nil || i.start != opts.InitStartTime || i.exited() {
		return nil, fmt.Errorf("enter zone: init %d is gone: %w", opts.InitPid, errdefs.ErrConflict)
	}
	if err := opts.JoinCgroup(opts.InitPid + 1); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Stdout, "ran %s in %s\n", strings.Join(opts.Args, " "), opts.Cwd)
	return &fakeExec{log: rt.log, code: len(opts.Args)}, nil
}

func (rt *fakeRuntime) OpenZonePTY(int, uint64) (master, slave *os.File, err error) {
	return pty.Open()
}

type fakeExec struct {
	log  *callLog
	code int
}

func (e *fakeExec) Signal(sig syscall.Signal) error {
	return e.log.call("exec.signal " + unix.SignalName(sig))
}
func (e *fakeExec) Wait() (int, error) { return e.code, nil }

func (i *fakeInit) PID() int          { return i.pid }
func (i *fakeInit) StartTime() uint64 { return i.start }
func (i *fakeInit) Wait() (namespaces.ExitStatus, error) {
	<-i.done
	return i.status, nil
}
func (i *fakeInit) Kill() error {
	i.rt.log.call("init.kill")
	i.exit(namespaces.ExitStatus{Signal: syscall.SIGKILL})
	return nil
}

// fakeCgroups keeps groups in a map; killing one kills the fake inits
// added to it.
type fakeCgroups struct {
	log *callLog
	rt  *fakeRuntime
	mu  sync.Mutex
	grp map[string]*fakeGroup
}

type fakeGroup struct {
	c      *fakeCgroups
	path   string
	mu     sync.Mutex
	procs  []int
	res    *specs.LinuxResources
	frozen bool
}

func newFakeCgroups(log *callLog, rt *fakeRuntime) *fakeCgroups {
	return &fakeCgroups{log: log, rt: rt, grp: map[string]*fakeGroup{}}
}

func (c *fakeCgroups) group(path string) *fakeGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.grp[path]
}

func (c *fakeCgroups) New(path string, res *specs.LinuxResources) (cgroups.Group, error) {
	if err := c.log.call("cgroup.new"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g := &fakeGroup{c: c, path: path, res: res}
	c.grp[path] = g
	return g, nil
}

func (c *fakeCgroups) Load(path string) (cgroups.Group, error) {
	if g := c.group(path); g != nil {
		return g, nil
	}
	return nil, fmt.Errorf("cgroup %s: %w", path, errdefs.ErrNotFound)
}

func (c *fakeCgroups) LimitTree(path string, l cgroups.TreeLimits) error {
	return c.log.call("cgroup.limit-tree")
}

func (c *fakeCgroups) Delegate(path string, uid, gid int) error {
	return c.log.call("cgroup.delegate")
}

func (c *fakeCgroups) ReadStats(path string) (*cgroups.Stats, error) {
	g := c.group(path)
	if g == nil {
		return nil, fmt.Errorf("cgroup %s: %w", path, errdefs.ErrNotFound)
	}
	return g.Stats()
}

func (c *fakeCgroups) ReadUsage(path string) (*cgroups.Stats, error) { return c.ReadStats(path) }

func (c *fakeCgroups) RemoveEmpty(path string) error { return c.log.call("cgroup.remove-empty") }

// EntryFor is not reached: the fake runtime joins through JoinCgroup.
func (c *fakeCgroups) EntryFor(g cgroups.Group, initPID int) (*cgroups.Entry, error) {
	return nil, c.log.call("cgroup.entry")
}

func (c *fakeCgroups) JoinInitLeaf(g cgroups.Group, pid, initPID int) error {
	if err := c.log.call("cgroup.join"); err != nil {
		return err
	}
	return g.AddProc(pid)
}
func (c *fakeCgroups) Mode() string { return "v2" }

func (g *fakeGroup) Path() string { return g.path }
func (g *fakeGroup) AddProc(pid int) error {
	if err := g.c.log.call("cgroup.add-proc"); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.procs = append(g.procs, pid)
	return nil
}
func (g *fakeGroup) Update(res *specs.LinuxResources) error {
	if err := g.c.log.call("cgroup.update"); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.res = res
	return nil
}
func (g *fakeGroup) Stats() (*cgroups.Stats, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := &cgroups.Stats{MemoryUsage: 1 << 20, Pids: uint64(len(g.procs)), CPUUsageNanos: 5e9}
	if g.res != nil && g.res.Memory != nil && g.res.Memory.Limit != nil {
		st.MemoryLimit = uint64(*g.res.Memory.Limit)
	}
	return st, nil
}
func (g *fakeGroup) Procs() ([]int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.procs), nil
}
func (g *fakeGroup) Freeze() error {
	g.frozen = true
	return g.c.log.call("cgroup.freeze")
}
func (g *fakeGroup) Thaw() error {
	g.frozen = false
	return g.c.log.call("cgroup.thaw")
}
func (g *fakeGroup) Kill() error {
	if err := g.c.log.call("cgroup.kill"); err != nil {
		return err
	}
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for _, pid := range procs {
		if i := g.c.rt.init(pid); i != nil {
			i.exit(namespaces.ExitStatus{Signal: syscall.SIGKILL})
		}
	}
	return nil
}
func (g *fakeGroup) Delete() error {
	if err := g.c.log.call("cgroup.delete"); err != nil {
		return err
	}
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	delete(g.c.grp, g.path)
	return nil
}

// fakeRoots keeps zones' roots, the files written in them and their
// snapshots in maps.
type fakeRoots struct {
	log *callLog
	// dir is the data dir's zones/: each root is a directory there, where
	// the manager keeps the zone's files (console.log).
	dir   string
	mu    sync.Mutex
	roots map[string]string   // zone → pool
	files map[string]string   // zone + path → data
	snaps map[string][]string // zone → snapshots
}

func newFakeRoots(log *callLog) *fakeRoots {
	return &fakeRoots{log: log, roots: map[string]string{}, files: map[string]string{}, snaps: map[string][]string{}}
}

func (s *fakeRoots) has(zone string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.roots[zone]
	return ok
}

func (s *fakeRoots) Pool(name string) (fsshare.PoolInfo, error) {
	if name == "" || name == fsshare.DefaultPool {
		return fsshare.PoolInfo{Name: fsshare.DefaultPool}, nil
	}
	return fsshare.PoolInfo{}, fmt.Errorf("pool %q: %w", name, errdefs.ErrNotFound)
}

func (s *fakeRoots) Volume(pool, zone string) (zoneVolume, error) {
	if _, err := s.Pool(pool); err != nil {
		return nil, fmt.Errorf("zone %q: %w", zone, err)
	}
	return &fakeVolume{s: s, zone: zone}, nil
}

func (s *fakeRoots) file(zone, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[zone+":"+path]
}

func (s *fakeRoots) DetectInit(template string) (fsshare.InitInfo, error) {
	if err := s.log.call("root.detect-init"); err != nil {
		return fsshare.InitInfo{}, err
	}
	return fsshare.InitInfo{Path: "/bin/busybox", Kind: "busybox", StopSignal: syscall.SIGUSR2}, nil
}

func (s *fakeRoots) Cleanup() error { return s.log.call("root.cleanup") }
func (s *fakeRoots) DeleteTemplate(name string) error {
	return s.log.call("root.delete-template " + name)
}

// fakeVolume is a zone's root in fakeRoots.
type fakeVolume struct {
	s    *fakeRoots
	zone string
}

func (v *fakeVolume) Create(template string, l quota.Limits) error {
	if err := v.s.log.call("root.create"); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.roots[v.zone] = template
	return os.MkdirAll(filepath.Join(v.s.dir, v.zone), 0o700)
}

func (v *fakeVolume) Delete() error {
	if err := v.s.log.call("root.delete"); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	delete(v.s.roots, v.zone)
	delete(v.s.snaps, v.zone)
	for k := range v.s.files {
		if strings.HasPrefix(k, v.zone+":") {
			delete(v.s.files, k)
		}
	}
	return os.RemoveAll(filepath.Join(v.s.dir, v.zone))
}

func (v *fakeVolume) MapIDs(base uint32) error { return v.s.log.call("root.map-ids") }

func (v *fakeVolume) WriteFile(path string, data []byte, mode os.FileMode) error {
	if err := v.s.log.call("root.write " + path); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if _, ok := v.s.roots[v.zone]; !ok {
		return fmt.Errorf("zone %q has no root: %w", v.zone, errdefs.ErrNotFound)
	}
	v.s.files[v.zone+":"+path] = string(data)
	return nil
}

func (v *fakeVolume) RootPath() string { return "/fake/zones/" + v.zone + "/root" }

func (v *fakeVolume) RootMount(template string) specs.Mount {
	return specs.Mount{Destination: "/", Type: "fake", Source: template}
}

// Usage is the bytes of the files written in the root.
func (v *fakeVolume) Usage() (int64, error) {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if _, ok := v.s.roots[v.zone]; !ok {
		return 0, fmt.Errorf("usage of zone %q: %w", v.zone, errdefs.ErrNotFound)
	}
	var n int64
	for k, data := range v.s.files {
		if strings.HasPrefix(k, v.zone+":") {
			n += int64(len(data))
		}
	}
	return n, nil
}

func (v *fakeVolume) snapshots() []string {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return slices.Clone(v.s.snaps[v.zone])
}

func (v *fakeVolume) CreateSnapshot(snap string) error {
	if err := v.s.log.call("snap.create " + snap); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	v.s.snaps[v.zone] = append(v.s.snaps[v.zone], snap)
	return nil
}

func (v *fakeVolume) ListSnapshots() ([]string, error) { return v.snapshots(), nil }

func (v *fakeVolume) SnapshotSize(snap string) (int64, error) {
	if !slices.Contains(v.snapshots(), snap) {
		return 0, fmt.Errorf("snapshot %q: %w", snap, errdefs.ErrNotFound)
	}
	return 512, nil
}

func (v *fakeVolume) RestoreSnapshot(snap string) error {
	if err := v.s.log.call("snap.restore " + snap); err != nil {
		return err
	}
	if !slices.Contains(v.snapshots(), snap) {
		return fmt.Errorf("snapshot %q: %w", snap, errdefs.ErrNotFound)
	}
	return nil
}

func (v *fakeVolume) DeleteSnapshot(snap string) error {
	if err := v.s.log.call("snap.delete " + snap); err != nil {
		return err
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	i := slices.Index(v.s.snaps[v.zone], snap)
	if i < 0 {
		return fmt.Errorf("snapshot %q: %w", snap, errdefs.ErrNotFound)
	}
	v.s.snaps[v.zone] = slices.Delete(v.s.snaps[v.zone], i, i+1)
	return nil
}

func (v *fakeVolume) CleanupSnapshots() error { return v.s.log.call("snap.cleanup") }

// fakePart is a part that records each step it takes (as "NAME.step")
// and the undo it pushes ("NAME.undo-step"), and fails the step a test
// names through the callLog.
type fakePart struct {
	name  string
	after []string
	log   *callLog
	mu    sync.Mutex
	// reconciled is the records Reconcile saw.
	reconciled []string
	// onCreate and onStart, when set, run inside the step (to change
	// what the manager finds after it).
	onCreate, onStart func(rec *store.ZoneRecord)
}

func (p *fakePart) Name() string    { return p.name }
func (p *fakePart) After() []string { return p.after }

func (p *fakePart) ValidateCreate(_ context.Context, req *api.CreateZoneRequest) error {
	return p.log.call(p.name + ".validate")
}

// step records NAME.step, runs hook and pushes NAME.undo-step on r.
func (p *fakePart) step(step string, rec *store.ZoneRecord, r *revert.Reverter, hook func(*store.ZoneRecord)) error {
	if err := p.log.call(p.name + "." + step); err != nil {
		return err
	}
	if hook != nil {
		hook(rec)
	}
	r.Add(func() { p.log.call(p.name + ".undo-" + step) })
	return nil
}

func (p *fakePart) Create(_ context.Context, rec *store.ZoneRecord, _ *api.CreateZoneRequest, r *revert.Reverter) error {
	return p.step("create", rec, r, p.onCreate)
}

func (p *fakePart) Prestart(_ context.Context, rec *store.ZoneRecord, r *revert.Reverter) error {
	return p.step("prestart", rec, r, nil)
}

func (p *fakePart) Start(_ context.Context, rec *store.ZoneRecord, _ int, r *revert.Reverter) error {
	return p.step("start", rec, r, p.onStart)
}

func (p *fakePart) Stopped(rec *store.ZoneRecord) { p.log.call(p.name + ".stopped") }

func (p *fakePart) Destroy(rec *store.ZoneRecord) error {
	return p.log.call(p.name + ".destroy")
}

func (p *fakePart) Reconcile(_ context.Context, recs []*store.ZoneRecord) error {
	p.mu.Lock()
	p.reconciled = nil
	for _, r := range recs {
		p.reconciled = append(p.reconciled, r.Name+"="+string(r.State))
	}
	p.mu.Unlock()
	return p.log.call(p.name + ".reconcile")
}

// testZones is a manager on fakes, with a real store in a temporary
// data directory.
type testZones struct {
	t     *testing.T
	m     *Manager
	cfg   Config
	log   *callLog
	rt    *fakeRuntime
	cg    *fakeCgroups
	roots *fakeRoots
	parts []*fakePart
	// extra is one more part, when a test sets it before open.
	extra part.Part
}

// testTemplate is the ready template fakes make zones from.
const testTemplate = "base"

// newTestZones opens a manager on fakes with parts "a" then "b" (b runs
// after a) and a ready template.
func newTestZones(t *testing.T) *testZones {
	t.Helper()
	tz := &testZones{t: t, log: &callLog{}}
	tz.rt = newFakeRuntime(tz.log)
	tz.cg = newFakeCgroups(tz.log, tz.rt)
	tz.roots = newFakeRoots(tz.log)
	tz.parts = []*fakePart{
		{name: "b", after: []string{"a"}, log: tz.log},
		{name: "a", log: tz.log},
	}
	tz.cfg = Config{
		DataDir:      t.TempDir(),
		CgroupParent: "/zoned-test",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	tz.roots.dir = filepath.Join(tz.cfg.DataDir, "zones")
	// The template is on disk too, for what the real storage does with
	// templates (sizes, deletes).
	writeFile(t, filepath.Join(tz.cfg.DataDir, "templates", testTemplate, "rootfs", "sbin", "init"), "#!/bin/sh\n")
	st, err := store.Open(tz.cfg.DataDir + "/zoned.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTemplate(&store.TemplateRecord{Name: testTemplate, Source: "tar", State: templateReady, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	tz.open()
	// The first daemon on a host starts nothing and writes the boot
	// marker; a test that writes its own waits for that.
	<-tz.m.autostartDone
	return tz
}

// open starts the manager (again) on the same fakes and data directory.
func (tz *testZones) open() {
	tz.t.Helper()
	m, err := newWith(tz.cfg, tz.deps())
	if err != nil {
		tz.t.Fatal(err)
	}
	tz.m = m
	tz.t.Cleanup(func() { tz.close() })
}

func (tz *testZones) deps() deps {
	return deps{runtime: tz.rt, cgroups: tz.cg, roots: tz.roots, parts: func(*Manager) []part.Part {
		// The labels part is the daemon's own: it only copies the
		// request's labels to the record.
		out := []part.Part{labelsPart{}}
		for _, p := range tz.parts {
			out = append(out, p)
		}
		if tz.extra != nil {
			out = append(out, tz.extra)
		}
		return out
	}}
}

// close closes the manager, as a daemon that stops: zones keep running.
func (tz *testZones) close() {
	if tz.m == nil {
		return
	}
	m := tz.m
	tz.m = nil
	if err := m.Close(); err != nil {
		tz.t.Error(err)
	}
	// The watchers of running zones end only when their init does; a
	// closed manager's must not outlive the test's store.
	tz.rt.mu.Lock()
	for _, i := range tz.rt.inits {
		i.exit(namespaces.ExitStatus{Signal: syscall.SIGKILL})
	}
	tz.rt.mu.Unlock()
	m.wg.Wait()
}

// crash drops the manager as a daemon that died: nothing is closed but
// the store and the data directory's lock, and no init exits.
func (tz *testZones) crash() {
	tz.t.Helper()
	m := tz.m
	tz.m = nil
	m.stopAutostart()
	m.ops.close()
	m.events.close()
	if err := m.store.Close(); err != nil {
		tz.t.Fatal(err)
	}
	m.dirLock.release()
}

// create makes a zone named name from the test template.
func (tz *testZones) create(name string) *api.Zone {
	tz.t.Helper()
	z, err := tz.m.CreateZone(context.Background(), api.CreateZoneRequest{Name: name, Template: testTemplate, Privileged: true})
	if err != nil {
		tz.t.Fatal(err)
	}
	return z
}

// start makes and starts a zone.
func (tz *testZones) start(name string) *api.Zone {
	tz.t.Helper()
	tz.create(name)
	z, err := tz.m.StartZone(context.Background(), name)
	if err != nil {
		tz.t.Fatal(err)
	}
	return z
}

// record is the zone's store record, nil when it has none.
func (tz *testZones) record(name string) *store.ZoneRecord {
	tz.t.Helper()
	rec, err := tz.m.store.GetZone(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		tz.t.Fatal(err)
	}
	return rec
}

// wantCalls fails the test unless got is want.
func wantCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// writeFile writes data to path, making its directories.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
}
