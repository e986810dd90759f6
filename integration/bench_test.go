//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/client"
)

// The benchmarks of issue 2. They report figures and never assert on
// them: timings depend on the machine, and a slow run is news for a human,
// not a failed build. What they do assert is that every step worked and
// that nothing is left behind (the harness's cleanup checks that).

// benchCtx bounds a whole benchmark: long runs (-benchtime 100x) outlast
// the tests' per-call contexts.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return ctx
}

// samples collects the durations of one measured step.
type samples []time.Duration

func (s samples) sorted() samples {
	c := append(samples(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}

func (s samples) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := s.sorted()
	if n := len(c); n%2 == 0 {
		return (c[n/2-1] + c[n/2]) / 2
	}
	return c[len(c)/2]
}

func (s samples) min() time.Duration { return s.sorted()[0] }
func (s samples) max() time.Duration { return s.sorted()[len(s)-1] }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// table renders rows of named samples as markdown: median, min, max, runs.
func table(rows []string, data map[string]samples) string {
	var b strings.Builder
	b.WriteString("| step | median ms | min ms | max ms | runs |\n|---|---:|---:|---:|---:|\n")
	for _, name := range rows {
		s := data[name]
		if len(s) == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %d |\n", name, ms(s.median()), ms(s.min()), ms(s.max()), len(s))
	}
	return b.String()
}

// report prints to stdout, so the figures show without -v, and to the
// benchmark's log.
func report(b *testing.B, format string, args ...any) {
	b.Helper()
	text := fmt.Sprintf(format, args...)
	if testing.Verbose() {
		b.Log("\n" + text)
		return
	}
	fmt.Print(text)
}

// BenchmarkLifecycle measures one zone's whole life through the API —
// create from the busybox template, start, exec /bin/true, stop, destroy —
// against `runc run` of /bin/true on the same root filesystem, interleaved
// in the same iterations so both see the same machine load.
//
// Each iteration runs the zoned cycle twice: once with the default
// (graceful) stop, where busybox init's own shutdown sleeps dominate, and
// once with a forced stop, which is the like-for-like comparison with runc
// (runc's /bin/true just exits; nothing is shut down).
func BenchmarkLifecycle(b *testing.B) {
	d := startDaemon(b)
	runc := newRuncBench(b, d)
	ctx := benchCtx(b)

	// Warm up: the first create builds the busybox template, and the
	// first runs of both fault in binaries and page cache.
	d.zoneCycle(ctx, "bench-warm", api.StopRequest{Force: true}, nil)
	runc.run(0)

	data := map[string]samples{}
	i := 0
	for b.Loop() {
		i++
		d.zoneCycle(ctx, fmt.Sprintf("bench-g%d", i), api.StopRequest{}, func(step string, dur time.Duration) {
			data["graceful/"+step] = append(data["graceful/"+step], dur)
		})
		d.zoneCycle(ctx, fmt.Sprintf("bench-f%d", i), api.StopRequest{Force: true}, func(step string, dur time.Duration) {
			data["force/"+step] = append(data["force/"+step], dur)
		})
		data["runc/run"] = append(data["runc/run"], runc.run(i))
	}
	b.StopTimer()

	graceful, force, rc := data["graceful/cycle"].median(), data["force/cycle"].median(), data["runc/run"].median()
	b.ReportMetric(ms(graceful), "zoned-median-ms")
	b.ReportMetric(ms(force), "zoned-force-median-ms")
	b.ReportMetric(ms(rc), "runc-median-ms")
	b.ReportMetric(float64(graceful)/float64(rc), "ratio")
	b.ReportMetric(float64(force)/float64(rc), "ratio-force")

	var rows []string
	for _, mode := range []string{"graceful", "force"} {
		for _, step := range []string{"cycle", "create", "start", "exec", "stop", "destroy"} {
			rows = append(rows, mode+"/"+step)
		}
	}
	rows = append(rows, "runc/run")
	report(b, "zoned (busybox, through the API) vs runc run /bin/true, %d iterations:\n\n%s\n"+
		"ratio zoned/runc: %.2f with the default stop, %.2f with a forced stop\n",
		len(data["runc/run"]), table(rows, data), float64(graceful)/float64(rc), float64(force)/float64(rc))
}

// zoneCycle runs create + start + exec /bin/true + stop + destroy of one
// busybox zone, failing the benchmark on any error, and hands each step's
// duration (and the whole cycle's, as "cycle") to record.
func (d *daemon) zoneCycle(ctx context.Context, name string, stop api.StopRequest, record func(step string, dur time.Duration)) {
	d.t.Helper()
	if record == nil {
		record = func(string, time.Duration) {}
	}
	begin := time.Now()
	last := begin
	lap := func(step string) {
		now := time.Now()
		record(step, now.Sub(last))
		last = now
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox"}); err != nil {
		d.t.Fatalf("create %s: %v\nlog:\n%s", name, err, d.logs())
	}
	lap("create")
	if _, err := d.c.StartZone(ctx, name); err != nil {
		d.t.Fatalf("start %s: %v\nlog:\n%s", name, err, d.logs())
	}
	lap("start")
	code, err := d.c.Exec(ctx, name, api.ExecRequest{Command: []string{"/bin/true"}}, client.ExecOptions{})
	if err != nil || code != 0 {
		d.t.Fatalf("exec /bin/true in %s: code %d, %v\nlog:\n%s", name, code, err, d.logs())
	}
	lap("exec")
	z, err := d.c.StopZone(ctx, name, stop)
	if err != nil {
		d.t.Fatalf("stop %s: %v\nlog:\n%s", name, err, d.logs())
	}
	if z.State != api.StateStopped {
		d.t.Fatalf("stopped zone %s is %s", name, z.State)
	}
	lap("stop")
	if err := d.c.DestroyZone(ctx, name, false); err != nil {
		d.t.Fatalf("destroy %s: %v\nlog:\n%s", name, err, d.logs())
	}
	lap("destroy")
	record("cycle", time.Since(begin))
}

// runcBench runs /bin/true under runc on the daemon's busybox template.
// The template is the daemon's shared lower layer, so runc gets it through
// an overlay of the benchmark's own (runc creates mountpoints in its root
// before making it read-only, and must not write into the template), and
// an absolute cgroup path of the benchmark's own, so runc never creates
// its groups inside the cgroup the tests themselves run in.
type runcBench struct {
	b        *testing.B
	runc     string
	dir      string // bundle, overlay dirs and runc's state
	bundle   string
	state    string
	cgParent string
	prefix   string
}

func newRuncBench(b *testing.B, d *daemon) *runcBench {
	b.Helper()
	runc := findRunc(b)
	// The template exists once a zone has been made from it.
	ctx := ctxT(b)
	if _, err := d.c.GetTemplate(ctx, "busybox"); err != nil {
		if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "bench-tmpl", Template: "busybox"}); err != nil {
			b.Fatalf("create a zone to build the busybox template: %v", err)
		}
		if err := d.c.DestroyZone(ctx, "bench-tmpl", true); err != nil {
			b.Fatal(err)
		}
	}
	lower := filepath.Join(d.dataDir, "templates", "busybox", "rootfs")
	if _, err := os.Lstat(filepath.Join(lower, "bin", "true")); err != nil {
		b.Fatalf("busybox template root %s: %v", lower, err)
	}
	dir, err := os.MkdirTemp("", "zoned-bench-runc-")
	if err != nil {
		b.Fatal(err)
	}
	suffix := randomSuffix()
	r := &runcBench{
		b:        b,
		runc:     runc,
		dir:      dir,
		bundle:   filepath.Join(dir, "bundle"),
		state:    filepath.Join(dir, "state"),
		cgParent: "/zoned-bench-" + suffix,
		prefix:   "zoned-bench-" + suffix,
	}
	b.Cleanup(r.cleanup)
	rootfs := filepath.Join(r.bundle, "rootfs")
	for _, p := range []string{rootfs, r.state, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		b.Fatalf("mount overlay for runc on %s: %v", rootfs, err)
	}

	if out, err := exec.Command(runc, "spec", "--bundle", r.bundle).CombinedOutput(); err != nil {
		b.Fatalf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(r.bundle, "config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		b.Fatalf("parse runc's default spec: %v", err)
	}
	spec.Process.Args = []string{"/bin/true"}
	spec.Process.Terminal = false
	spec.Root = &specs.Root{Path: "rootfs", Readonly: true}
	spec.Hostname = "runc-bench"
	// Keep runc's default namespaces (pid, net, ipc, uts, mount): the
	// zone gets those and a cgroup namespace, so runc does no more work
	// than zoned.
	spec.Linux.CgroupsPath = r.cgParent + "/runc"
	if raw, err = json.MarshalIndent(&spec, "", "\t"); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	return r
}

// findRunc returns runc's path, installing Debian's package if it is
// missing, or skips the benchmark.
func findRunc(b *testing.B) string {
	b.Helper()
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil {
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "runc")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Logf("apt-get install runc: %v: %s", err, bytes.TrimSpace(out))
		}
	}
	if p, err := exec.LookPath("runc"); err == nil {
		return p
	}
	b.Skip("runc is not installed and `apt-get install runc` could not install it: no baseline to compare with")
	return ""
}

// run runs /bin/true once in a new runc container and returns how long
// runc took, from exec to the container being gone.
func (r *runcBench) run(i int) time.Duration {
	r.b.Helper()
	id := fmt.Sprintf("%s-%d", r.prefix, i)
	cmd := exec.Command(r.runc, "--root", r.state, "run", "--bundle", r.bundle, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	begin := time.Now()
	err := cmd.Run()
	dur := time.Since(begin)
	if err != nil {
		r.b.Fatalf("runc run /bin/true: %v: %s", err, out.Bytes())
	}
	return dur
}

func (r *runcBench) cleanup() {
	b := r.b
	// A container left by a failed run would keep the overlay busy.
	if entries, _ := os.ReadDir(r.state); len(entries) > 0 {
		for _, e := range entries {
			_ = exec.Command(r.runc, "--root", r.state, "delete", "--force", e.Name()).Run()
			b.Errorf("leak: runc container %s was left", e.Name())
		}
	}
	if err := syscall.Unmount(filepath.Join(r.bundle, "rootfs"), 0); err != nil && !errors.Is(err, syscall.EINVAL) {
		b.Errorf("unmount runc overlay: %v", err)
	}
	// runc removes its own group when a container is deleted; the
	// parent is ours. Children first, in every hierarchy.
	for _, dir := range cgroupDirs(r.cgParent) {
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
			if err == nil && de.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for j := len(dirs) - 1; j >= 0; j-- {
			if err := syscall.Rmdir(dirs[j]); err != nil && !errors.Is(err, syscall.ENOENT) {
				b.Errorf("remove benchmark cgroup %s: %v", dirs[j], err)
			}
		}
	}
	if err := checkNoMountsUnder(r.dir); err != nil {
		b.Error(err)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		b.Errorf("remove %s: %v", r.dir, err)
	}
}

// BenchmarkDensity starts ZONED_BENCH_ZONES busybox zones (default 100)
// and reports what they cost the host: the daemon's resident memory, the
// host processes per zone that are not in the zone's cgroup (a
// supervisor per zone would show here; the aim is none), and the zones'
// own memory. Each iteration then runs /bin/true in one of the zones, so
// ns/op is exec latency on a host with that many zones running.
func BenchmarkDensity(b *testing.B) {
	n := benchZones(b, 100)
	d := startDaemon(b)
	ctx := benchCtx(b)
	pid := d.cmd.Process.Pid
	// Warm up so the template build is not part of the figures.
	d.zoneCycle(ctx, "bench-warm", api.StopRequest{Force: true}, nil)
	rssIdle := vmRSS(b, pid)

	names := make([]string, n)
	begin := time.Now()
	for i := range names {
		names[i] = fmt.Sprintf("dens%d", i)
		d.createStarted(names[i], api.Resources{})
	}
	startAll := time.Since(begin)
	// Let the inits finish their boot scripts, so the figures are of
	// zones at rest.
	for _, name := range names {
		if r := d.exec(name, "", "true"); r.code != 0 {
			b.Fatalf("zone %s does not run commands: %+v", name, r)
		}
	}
	zones, err := d.c.ListZones(ctx)
	if err != nil {
		b.Fatal(err)
	}
	running := 0
	for _, z := range zones {
		if z.State == api.StateRunning {
			running++
		}
	}
	if running != n {
		b.Fatalf("%d zones running, want %d", running, n)
	}
	rss := vmRSS(b, pid)
	outside, inside := d.hostProcesses(b, pid, names)
	var memUsage, memAnon uint64
	for _, name := range names {
		u, a := d.zoneMemory(b, name)
		memUsage += u
		memAnon += a
	}

	i := 0
	for b.Loop() {
		name := names[i%n]
		i++
		code, err := d.c.Exec(ctx, name, api.ExecRequest{Command: []string{"/bin/true"}}, client.ExecOptions{})
		if err != nil || code != 0 {
			b.Fatalf("exec /bin/true in %s: code %d, %v", name, code, err)
		}
	}
	b.StopTimer()

	begin = time.Now()
	for _, name := range names {
		if err := d.c.DestroyZone(ctx, name, true); err != nil {
			b.Fatalf("destroy %s: %v", name, err)
		}
	}
	destroyAll := time.Since(begin)

	b.ReportMetric(float64(n), "zones")
	b.ReportMetric(float64(rss)/(1<<20), "daemon-rss-MB")
	b.ReportMetric(float64(outside)/float64(n), "host-procs/zone")
	b.ReportMetric(float64(memUsage)/float64(n)/(1<<20), "zone-mem-MB/zone")
	report(b, "%d busybox zones running:\n\n| figure | value |\n|---|---:|\n"+
		"| daemon RSS, idle after warm-up | %.1f MB |\n"+
		"| daemon RSS, %d zones running | %.1f MB |\n"+
		"| host processes outside the zones' cgroups, per zone (supervisors) | %.2f |\n"+
		"| processes inside the zones' cgroups, per zone | %.2f |\n"+
		"| zone cgroup memory usage (incl. page cache), per zone | %.2f MB |\n"+
		"| zone cgroup anonymous memory, per zone | %.2f MB |\n"+
		"| create + start of all %d zones, sequential | %.2f s (%.1f ms/zone) |\n"+
		"| forced destroy of all %d zones, sequential | %.2f s (%.1f ms/zone) |\n",
		n, float64(rssIdle)/(1<<20), n, float64(rss)/(1<<20),
		float64(outside)/float64(n), float64(inside)/float64(n),
		float64(memUsage)/float64(n)/(1<<20), float64(memAnon)/float64(n)/(1<<20),
		n, startAll.Seconds(), ms(startAll)/float64(n),
		n, destroyAll.Seconds(), ms(destroyAll)/float64(n))
}

// vmRSS returns a process's resident set in bytes.
func vmRSS(b *testing.B, pid int) uint64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("parse VmRSS of %d: %q", pid, rest)
			}
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// hostProcesses counts the processes the zones cost the host: outside are
// the daemon's descendants that are in no zone's cgroup, plus any parent of
// a zone's init that is neither the daemon nor one of those (a supervisor
// that detached from it); inside are the processes in the zones' cgroups.
func (d *daemon) hostProcesses(b *testing.B, daemonPID int, zones []string) (outside, inside int) {
	b.Helper()
	parents := map[int]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(pid); ok {
			parents[pid] = ppid
		}
	}
	zoneGroups := map[string]bool{}
	for _, z := range zones {
		zoneGroups[d.cgroupParent+"/"+z] = true
	}
	inZone := func(pid int) bool {
		p := processCgroup(pid)
		for p != "/" && p != "." && p != "" {
			if zoneGroups[p] {
				return true
			}
			p = filepath.Dir(p)
		}
		return false
	}
	descends := func(pid int) bool {
		for seen := 0; pid > 1 && seen < 64; seen++ {
			pid = parents[pid]
			if pid == daemonPID {
				return true
			}
		}
		return false
	}
	counted := map[int]bool{}
	for pid := range parents {
		if pid == daemonPID {
			continue
		}
		switch {
		case inZone(pid):
			inside++
		case descends(pid):
			outside++
			counted[pid] = true
		}
	}
	list, err := d.c.ListZones(ctxT(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, z := range list {
		ppid := parents[z.InitPID]
		if z.InitPID > 0 && ppid != daemonPID && ppid > 1 && !counted[ppid] && !inZone(ppid) {
			outside++
			counted[ppid] = true
		}
	}
	return outside, inside
}

func parentPID(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// processCgroup returns a process's cgroup path: its memory hierarchy's on
// cgroup v1, the unified one on v2.
func processCgroup(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	unified := ""
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return parts[2]
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
		}
	}
	return unified
}

// zoneMemory returns a zone cgroup's memory usage (page cache included)
// and its anonymous memory, in bytes.
func (d *daemon) zoneMemory(b *testing.B, zone string) (usage, anon uint64) {
	b.Helper()
	v1 := filepath.Join("/sys/fs/cgroup/memory", d.cgroupParent, zone)
	v2 := filepath.Join("/sys/fs/cgroup", d.cgroupParent, zone)
	usageFile, statDir, anonKey := filepath.Join(v1, "memory.usage_in_bytes"), v1, "total_rss"
	if _, err := os.Stat(usageFile); err != nil {
		usageFile, statDir, anonKey = filepath.Join(v2, "memory.current"), v2, "anon"
	}
	usage = readUint(b, usageFile)
	f, err := os.Open(filepath.Join(statDir, "memory.stat"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == anonKey {
			anon, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	return usage, anon
}

func readUint(b *testing.B, path string) uint64 {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		b.Fatalf("parse %s: %v", path, err)
	}
	return v
}

// BenchmarkParts times the building blocks a zone's start, exec and stop
// are made of, outside the daemon, to tell where a slow cycle's time goes:
// the re-exec of the zoned binary (a zone's start and every exec run one),
// a zone cgroup's creation and removal, and killing a process through its
// cgroup (a forced stop).
func BenchmarkParts(b *testing.B) {
	requireRoot(b)
	buildBinaries(b)
	parent := "/zoned-bench-" + randomSuffix()
	b.Cleanup(func() {
		for _, dir := range cgroupDirs(parent) {
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
				b.Errorf("leak: cannot remove benchmark cgroup %s: %v", dir, err)
			}
		}
	})

	b.Run("reexec", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command(zonedBin, "-version").CombinedOutput(); err != nil {
				b.Fatalf("zoned -version: %v: %s", err, out)
			}
		}
	})
	b.Run("cgroup-create-delete", func(b *testing.B) {
		res := cgroups.ToSpec(api.Resources{})
		for b.Loop() {
			cg, err := cgroups.New(parent+"/g", res)
			if err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cgroup-kill", func(b *testing.B) {
		res := cgroups.ToSpec(api.Resources{})
		for b.Loop() {
			b.StopTimer()
			cg, err := cgroups.New(parent+"/k", res)
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command("sleep", "60")
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			if err := cg.AddProc(cmd.Process.Pid); err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				b.Fatal(err)
			}
			// The daemon reaps its zone's init as this test reaps
			// sleep: concurrently with the kill.
			go func() { _ = cmd.Wait() }()
			b.StartTimer()
			if err := cg.Kill(); err != nil {
				b.Fatal(err)
			}
			if err := cg.Delete(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
