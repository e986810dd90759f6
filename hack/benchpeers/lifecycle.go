//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/api"
)

const cycleMetric = "create+start+exec /bin/true+stop+destroy (busybox)"

// cycler is one tool's run of the lifecycle scenario: a cycle is one whole
// container life, timed from outside.
type cycler struct {
	tool  string
	note  string
	cycle func(ctx context.Context, i int) error
}

// lifecycle times one busybox container's whole life per tool, the tools
// interleaved within each round so all see the same machine load. Every
// peer runs on the zoned busybox template's root, through an overlay of
// its own (none writes into the shared template).
func (b *Bench) lifecycle(ctx context.Context) error {
	const sc = "1 lifecycle"
	lower, err := b.zoned.ensureTemplate(ctx, api.CreateTemplateRequest{Name: "busybox", From: "builtin"})
	if err != nil {
		return err
	}
	cyclers := []cycler{{
		tool: "zoned",
		note: "API via the client package; unprivileged zone (user namespace), forced stop",
		cycle: func(ctx context.Context, i int) error {
			return b.zonedCycle(ctx, fmt.Sprintf("lc-%d", i), api.StopRequest{Force: true})
		},
	}}
	peers := []struct {
		tool  string
		setup func(context.Context, string) (cycler, error)
	}{{"runc", b.runcCycler}, {"crun", b.crunCycler}, {"lxc", b.lxcCycler}}
	for _, p := range peers {
		if b.cfg.Smoke && p.tool != "runc" {
			continue
		}
		c, err := p.setup(ctx, lower)
		if err != nil {
			b.res.skip(sc, cycleMetric, p.tool, oneLine(err.Error()))
			continue
		}
		cyclers = append(cyclers, c)
	}
	return b.timeCyclers(ctx, sc, cycleMetric, cyclers)
}

// timeCyclers warms every cycler up once (page cache, binaries,
// first-use work), then times b.cfg.Runs rounds, the tools interleaved
// within each round so all see the same machine load, and records each
// tool's durations under metric.
func (b *Bench) timeCyclers(ctx context.Context, sc, metric string, cyclers []cycler) error {
	for _, c := range cyclers {
		if err := c.cycle(ctx, 0); err != nil {
			return fmt.Errorf("%s warm-up: %w", c.tool, err)
		}
	}
	times := make([][]time.Duration, len(cyclers))
	for i := 1; i <= b.cfg.Runs && ctx.Err() == nil; i++ {
		for j, c := range cyclers {
			begin := time.Now()
			if err := c.cycle(ctx, i); err != nil {
				return fmt.Errorf("%s run %d: %w", c.tool, i, err)
			}
			times[j] = append(times[j], time.Since(begin))
		}
	}
	for j, c := range cyclers {
		b.res.durations(sc, metric, c.tool, times[j], c.note)
	}
	return ctx.Err()
}

func (b *Bench) zonedCycle(ctx context.Context, name string, stop api.StopRequest) error {
	c := b.zoned.c
	if _, err := c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox"}); err != nil {
		return err
	}
	if _, err := c.StartZone(ctx, name); err != nil {
		return err
	}
	code, out, err := b.zoned.exec(ctx, name, "/bin/true")
	if err != nil || code != 0 {
		return fmt.Errorf("exec /bin/true in %s: code %d, %v: %s", name, code, err, out)
	}
	if _, err := c.StopZone(ctx, name, stop); err != nil {
		return err
	}
	return c.DestroyZone(ctx, name, false)
}

// overlayRoot mounts an overlay of lower at dir/rootfs with its own upper
// layer, undone at cleanup.
func (b *Bench) overlayRoot(lower, dir string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, p := range []string{rootfs, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mount overlay on %s: %w", rootfs, err)
	}
	b.onCleanup("unmount "+rootfs, func() error { return unmountAll(rootfs) })
	return rootfs, nil
}

// ociBundle writes a bundle whose process is /bin/true on an overlay of
// lower, with an absolute cgroup path of the benchmark's own (without one,
// runc and crun would make their groups inside the caller's).
func (b *Bench) ociBundle(tool, lower string) (bundle string, err error) {
	bundle = filepath.Join(b.workDir, tool, "bundle")
	if _, err := b.overlayRoot(lower, bundle); err != nil {
		return "", err
	}
	bin, err := lookPath(tool)
	if err != nil {
		return "", err
	}
	if out, err := exec.Command(bin, "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s spec: %w: %s", tool, err, out)
	}
	cfg := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		return "", err
	}
	var spec specs.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return "", fmt.Errorf("parse %s's default spec: %w", tool, err)
	}
	spec.Process.Args = []string{"/bin/true"}
	spec.Process.Terminal = false
	spec.Root = &specs.Root{Path: "rootfs", Readonly: true}
	spec.Hostname = tool + "-bench"
	// The default namespaces (pid, net, ipc, uts, mount) stay: a zone has
	// those and a cgroup namespace, so the peer does no more than zoned.
	spec.Linux.CgroupsPath = b.cgroup + "/" + tool
	if raw, err = json.MarshalIndent(&spec, "", "\t"); err != nil {
		return "", err
	}
	return bundle, os.WriteFile(cfg, raw, 0o600)
}

// ociCycler runs `TOOL run` of /bin/true; wrap turns the command line into
// the one actually run (crun's goes through unshare).
func (b *Bench) ociCycler(ctx context.Context, tool, lower, note string, wrap func([]string) []string) (cycler, error) {
	bin, err := lookPath(tool)
	if err != nil {
		return cycler{}, err
	}
	bundle, err := b.ociBundle(tool, lower)
	if err != nil {
		return cycler{}, err
	}
	state := filepath.Join(b.workDir, tool, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return cycler{}, err
	}
	prefix := "zoned-bench-" + b.id + "-"
	b.onCleanup("delete "+tool+" containers", func() error {
		entries, _ := os.ReadDir(state)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
				_ = exec.Command("sh", "-c", strings.Join(wrap([]string{bin, "--root", state, "delete", "--force", e.Name()}), " ")).Run()
			}
		}
		return nil
	})
	c := cycler{tool: tool, note: note, cycle: func(ctx context.Context, i int) error {
		argv := wrap([]string{bin, "--root", state, "run", "--bundle", bundle, fmt.Sprintf("%s%d", prefix, i)})
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}}
	// A peer that cannot run here says why instead of failing the run.
	if err := c.cycle(ctx, 0); err != nil {
		return cycler{}, fmt.Errorf("cannot run here: %s", oneLine(err.Error()))
	}
	return c, nil
}

func (b *Bench) runcCycler(ctx context.Context, lower string) (cycler, error) {
	return b.ociCycler(ctx, "runc", lower, "`runc run` of /bin/true as the container process (create, start, wait, delete; no init, no separate exec), privileged", func(a []string) []string { return a })
}

// crunCycler runs crun inside `unshare -m` with the empty cgroup2 at
// /sys/fs/cgroup/unified unmounted in that namespace only: crun refuses
// hybrid cgroup mode.
func (b *Bench) crunCycler(ctx context.Context, lower string) (cycler, error) {
	hybrid := cgroupMode() == "hybrid (v1 controllers, empty cgroup2)"
	wrap := func(a []string) []string {
		if !hybrid {
			return a
		}
		return append([]string{"unshare", "-m", "--propagation", "private", "sh", "-c", `umount /sys/fs/cgroup/unified && exec "$@"`, "crun"}, a...)
	}
	note := "`crun run` of /bin/true as the container process, privileged"
	if hybrid {
		note += "; in `unshare -m` with /sys/fs/cgroup/unified unmounted there (crun refuses hybrid mode), which adds ≈2 ms"
	}
	return b.ociCycler(ctx, "crun", lower, note, wrap)
}

// lxcCycler runs lxc's own create-from-template path: lxc-copy -s -B
// overlay of a base container (lxc-create -t none on a copy of the busybox
// root: lxc's template plus a copy-on-write layer, as a zone is), then
// lxc-start, lxc-attach /bin/true, lxc-stop -k, lxc-destroy. lxc-start
// runs from a cgroup of the benchmark's own with lxc.cgroup.relative, so
// its monitor and container groups land below it.
func (b *Bench) lxcCycler(ctx context.Context, lower string) (cycler, error) {
	l, err := b.lxc(ctx, "lxc-busybox", lower)
	if err != nil {
		return cycler{}, err
	}
	c := cycler{tool: "lxc", note: "lxc-copy -s -B overlay of a base container + lxc-start + lxc-attach + lxc-stop -k + lxc-destroy, privileged", cycle: func(ctx context.Context, i int) error {
		name := fmt.Sprintf("lc-%d", i)
		if err := l.create(ctx, name); err != nil {
			return err
		}
		if err := l.start(ctx, name); err != nil {
			return err
		}
		if out, err := l.attach(ctx, name, "/bin/true"); err != nil {
			return fmt.Errorf("lxc-attach: %w: %s", err, out)
		}
		if err := runCmd(ctx, "lxc-stop", "-P", l.path, "-n", name, "-k"); err != nil {
			return err
		}
		return runCmd(ctx, "lxc-destroy", "-P", l.path, "-n", name)
	}}
	if err := c.cycle(ctx, 0); err != nil {
		return cycler{}, fmt.Errorf("cannot run here: %s", oneLine(err.Error()))
	}
	return c, nil
}

// lxcHost is one lxcpath of the benchmark's with a base container on a
// copy of a template root; its containers are all stopped and destroyed at
// cleanup.
type lxcHost struct {
	b     *Bench
	path  string // lxcpath
	group string // the cgroup lxc-start runs from
	base  string // the base container's name
}

// lxc returns the lxcHost sub on a copy of lower, making it on first use.
func (b *Bench) lxc(ctx context.Context, sub, lower string) (*lxcHost, error) {
	if l := b.lxcHosts[sub]; l != nil {
		return l, nil
	}
	l, err := b.newLXC(ctx, sub, lower)
	if err != nil {
		return nil, err
	}
	if b.lxcHosts == nil {
		b.lxcHosts = map[string]*lxcHost{}
	}
	b.lxcHosts[sub] = l
	return l, nil
}

func (b *Bench) newLXC(ctx context.Context, sub, lower string) (*lxcHost, error) {
	for _, t := range []string{"lxc-create", "lxc-copy", "lxc-start", "lxc-attach", "lxc-stop", "lxc-destroy"} {
		if _, err := lookPath(t); err != nil {
			return nil, err
		}
	}
	l := &lxcHost{b: b, path: filepath.Join(b.workDir, sub), group: b.cgroup + "/" + sub, base: "base"}
	// lxc-copy insists that the base's root path contain its name.
	root := filepath.Join(b.workDir, sub+"-"+l.base+"-rootfs")
	if err := os.MkdirAll(l.path, 0o755); err != nil {
		return nil, err
	}
	if err := makeGroup(l.group); err != nil {
		return nil, err
	}
	b.onCleanup("stop and destroy lxc containers in "+l.path, l.destroyAll)
	// A copy, not the template itself: lxc-destroy of a dir-backed
	// container deletes its root.
	if err := runCmd(ctx, "cp", "-a", lower, root); err != nil {
		return nil, err
	}
	conf := filepath.Join(b.workDir, sub+".conf")
	lines := []string{
		"lxc.rootfs.path = dir:" + root,
		"lxc.net.0.type = empty",
		"lxc.cgroup.relative = 1",
		"lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
		"lxc.tty.max = 0",
		"lxc.pty.max = 64",
		"lxc.console.path = none",
		"lxc.apparmor.profile = unconfined",
		"lxc.log.level = ERROR",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return l, runCmd(ctx, "lxc-create", "-P", l.path, "-n", l.base, "-t", "none", "-f", conf)
}

func (l *lxcHost) destroyAll() error {
	entries, _ := os.ReadDir(l.path)
	var errs []error
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(l.path, e.Name(), "config")); err != nil || e.Name() == l.base {
			continue
		}
		_ = exec.Command("lxc-stop", "-P", l.path, "-n", e.Name(), "-k").Run()
		if out, err := exec.Command("lxc-destroy", "-P", l.path, "-n", e.Name(), "-f").CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("lxc-destroy %s: %w: %s", e.Name(), err, out))
		}
	}
	// The base goes with the work directory (its root is our copy).
	return errors.Join(errs...)
}

// create clones the base as name on an lxc overlay (lxc mounts it inside
// the container's mount namespace, as zoned does) and gives it cgroups of
// its own below the lxcHost's group.
func (l *lxcHost) create(ctx context.Context, name string) error {
	if err := runCmd(ctx, "lxc-copy", "-P", l.path, "-n", l.base, "-N", name, "-s", "-B", "overlay"); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.path, name, "config"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "lxc.cgroup.dir.container = c-%s\nlxc.cgroup.dir.monitor = m-%s\nlxc.cgroup.dir.monitor.pivot = pivot\n", name, name)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// cgroupOf is the container's cgroup path and its monitor's.
func (l *lxcHost) cgroupOf(name string) (container, monitor string) {
	return l.group + "/c-" + name, l.group + "/m-" + name
}

func (l *lxcHost) start(ctx context.Context, name string) error {
	return runCmd(ctx, l.b.self, "cgexec", l.group, "lxc-start", "-P", l.path, "-n", name, "-d")
}

func (l *lxcHost) attach(ctx context.Context, name string, args ...string) (string, error) {
	a := append([]string{"-P", l.path, "-n", name, "--clear-env", "--"}, args...)
	out, err := exec.CommandContext(ctx, "lxc-attach", a...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
