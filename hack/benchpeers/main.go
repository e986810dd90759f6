//go:build linux

// Command benchpeers measures zoned against the tools a hosting provider
// would pick instead (runc, crun, lxc, systemd-nspawn, all from Debian's
// packages) on the same machine, the same root filesystems and in one run,
// and writes the figures as a markdown table, as JSON and into
// docs/benchmarks.md. `make bench` runs it (see docs/benchmarks.md).
//
// It starts a zoned daemon of its own (own socket, data directory under
// /var/tmp, cgroup parent /zoned-bench-<rand>/zoned) and gives every peer
// a cgroup below the same /zoned-bench-<rand>; everything it makes —
// daemon, zones, peers' containers, overlay mounts, network namespaces,
// veth links, cgroups, directories — is undone on exit, on failure and on
// Ctrl-C. It is a tool, not part of the product: it lives under hack/.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
)

// Config is what the flags choose.
type Config struct {
	Quick     bool
	Smoke     bool
	Runs      int    // repetitions of the latency scenarios
	Zoned     string // zoned binary
	Repo      string // repository root (docs/, hack/)
	JSON      string
	Doc       string
	Scenarios map[string]bool
	// Sizes of the scale scenarios.
	DensityBusybox, DensityDebian, DiskZones, APIZones, APIConcurrent int
}

// Bench is one run: its configuration, its own names and the undo stack.
type Bench struct {
	cfg     Config
	id      string // random suffix of every name the run makes
	cgroup  string // /zoned-bench-<id>
	workDir string // /var/tmp/zoned-bench-<id>
	self    string // this binary, for cgexec and the TCP helper
	res     Results
	zoned   *zonedDaemon
	// lxcHosts are the lxc paths made so far, by name, each with a base
	// container on a copy of one template root.
	lxcHosts map[string]*lxcHost

	mu    sync.Mutex
	undos []undo
}

type undo struct {
	what string
	fn   func() error
}

// defer registers fn to run at the end of the run (last in, first out),
// also after a failure or a signal.
func (b *Bench) onCleanup(what string, fn func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.undos = append(b.undos, undo{what, fn})
}

// cleanup runs the undo stack once; it reports what could not be undone.
func (b *Bench) cleanup() (failed int) {
	b.mu.Lock()
	undos := b.undos
	b.undos = nil
	b.mu.Unlock()
	for i := len(undos) - 1; i >= 0; i-- {
		if err := undos[i].fn(); err != nil {
			fmt.Fprintf(os.Stderr, "benchpeers: cleanup: %s: %v\n", undos[i].what, err)
			failed++
		}
	}
	return failed
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "cgexec":
			cgexecMain(os.Args[2:])
			return
		case "tcp-sink", "tcp-source":
			tcpMain(os.Args[1], os.Args[2:])
			return
		}
	}
	os.Exit(run())
}

func run() int {
	var cfg Config
	var only string
	flag.BoolVar(&cfg.Quick, "quick", false, "fewer runs and smaller scale scenarios: a few minutes")
	flag.BoolVar(&cfg.Smoke, "smoke", false, "one run of the lifecycle scenario (zoned and runc) and of exec (zoned, zonectl, nsenter) only (CI); writes no doc")
	runs := flag.Int("runs", 0, "repetitions of each latency figure (default 20, 5 with -quick)")
	flag.StringVar(&cfg.Zoned, "zoned", "bin/zoned", "zoned binary to benchmark (hack/build.sh builds it)")
	flag.StringVar(&cfg.Repo, "repo", ".", "repository root")
	flag.StringVar(&cfg.JSON, "json", "bench-results.json", "write the results as JSON here (\"\" for none)")
	flag.StringVar(&cfg.Doc, "doc", "docs/benchmarks.md", "refresh this markdown file (\"\" for none)")
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (lifecycle,exec,boot,density,disk,api,network); default all")
	flag.Parse()

	cfg.Runs, cfg.DensityBusybox, cfg.DensityDebian, cfg.DiskZones, cfg.APIZones, cfg.APIConcurrent = 20, 500, 100, 100, 1000, 100
	if cfg.Quick {
		cfg.Runs, cfg.DensityBusybox, cfg.DensityDebian, cfg.DiskZones, cfg.APIZones, cfg.APIConcurrent = 5, 25, 3, 20, 200, 20
	}
	if *runs > 0 {
		cfg.Runs = *runs
	}
	cfg.Scenarios = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.Scenarios[s] = true
		}
	}
	if cfg.Smoke {
		cfg.Runs, cfg.Scenarios, cfg.Doc = 1, map[string]bool{"lifecycle": true, "exec": true}, ""
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "benchpeers: run as root (zones and peers need namespaces, cgroups and mounts)")
		return 2
	}

	idb := make([]byte, 4)
	_, _ = rand.Read(idb)
	b := &Bench{cfg: cfg, id: hex.EncodeToString(idb)}
	b.cgroup = "/zoned-bench-" + b.id
	b.workDir = "/var/tmp/zoned-bench-" + b.id
	var err error
	if b.self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		return 1
	}
	if cfg.Zoned, err = filepath.Abs(cfg.Zoned); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		return 1
	}

	// Ctrl-C or SIGTERM cancels the run; the scenarios return, and the
	// undo stack runs below. A second signal runs it at once and exits.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "benchpeers: %v: stopping and cleaning up\n", s)
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "benchpeers: second signal: cleaning up now")
		b.cleanup()
		os.Exit(130)
	}()

	code := b.runAll(ctx)
	if n := b.cleanup(); n > 0 {
		fmt.Fprintf(os.Stderr, "benchpeers: %d cleanup steps failed (see above)\n", n)
		code = 1
	}
	return code
}

func (b *Bench) want(s string) bool { return len(b.cfg.Scenarios) == 0 || b.cfg.Scenarios[s] }

func (b *Bench) runAll(ctx context.Context) int {
	b.res.Date = time.Now().UTC()
	b.res.Quick = b.cfg.Quick
	b.res.Machine = describeMachine()
	if err := os.MkdirAll(b.workDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		return 1
	}
	b.onCleanup("remove "+b.workDir, func() error {
		if err := checkNoMountsUnder(b.workDir); err != nil {
			return err
		}
		return os.RemoveAll(b.workDir)
	})
	if err := makeGroup(b.cgroup); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers:", err)
		return 1
	}
	b.onCleanup("remove cgroup "+b.cgroup, func() error { return removeGroup(b.cgroup) })

	z, err := b.startZoned(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchpeers: start zoned:", err)
		return 1
	}
	b.zoned = z

	scenarios := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"lifecycle", b.lifecycle},
		{"exec", b.execScenario},
		{"boot", b.boot},
		{"density", b.density},
		{"disk", b.disk},
		{"api", b.apiScale},
		{"network", b.network},
	}
	failed := false
	for _, s := range scenarios {
		if !b.want(s.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		begin := time.Now()
		fmt.Fprintf(os.Stderr, "== %s\n", s.name)
		if err := s.fn(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "benchpeers: %s: %v\n", s.name, err)
			b.res.skip(s.name, "(scenario)", "all", "failed: "+oneLine(err.Error()))
			failed = true
		}
		fmt.Fprintf(os.Stderr, "== %s took %s\n", s.name, time.Since(begin).Round(time.Second))
	}
	b.res.Machine.LoadEnd = loadAvg()
	b.res.order()
	b.res.ratios()
	table := b.res.Markdown()
	fmt.Println(table)
	if b.cfg.JSON != "" {
		data, _ := json.MarshalIndent(&b.res, "", "  ")
		if err := os.WriteFile(b.cfg.JSON, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers:", err)
			failed = true
		}
	}
	if b.cfg.Doc != "" && ctx.Err() == nil {
		if err := writeDoc(filepath.Join(b.cfg.Repo, b.cfg.Doc), &b.res, table); err != nil {
			fmt.Fprintln(os.Stderr, "benchpeers:", err)
			failed = true
		}
	}
	if ctx.Err() != nil {
		return 130
	}
	if failed {
		return 1
	}
	return 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// lookPath finds a tool in PATH, also in the sbin directories a plain
// user's PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (make bench installs the peers through hack/setup.sh)", name)
}

// runCmd runs a command to completion and returns its combined output in
// the error.
func runCmd(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkNoMountsUnder reports mounts left below dir.
func checkNoMountsUnder(dir string) error {
	mps, err := mountsUnder(dir)
	if err == nil && len(mps) > 0 {
		err = fmt.Errorf("mount %s is still there", mps[0])
	}
	return err
}

// mountsUnder lists the mount points at or below dir, in mount order.
func mountsUnder(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return nil, err
	}
	mps := make([]string, 0, len(infos))
	for _, m := range infos {
		mps = append(mps, m.Mountpoint)
	}
	return mps, nil
}

// unmountAll unmounts everything below dir, deepest first.
func unmountAll(dir string) error {
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var last error
	for i := len(mps) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mps[i], syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			last = fmt.Errorf("unmount %s: %w", mps[i], err)
		}
	}
	return last
}
