//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

var (
	binDir      string // holds the zoned and zonectl built for this run
	zonedBin    string
	zonectlBin  string
	buildOnce   sync.Once
	buildErr    error
	debianCache = "/var/cache/zoned-test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// requireRoot skips tests that need root and a kernel with what zones use.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: zones use namespaces, cgroups and overlay mounts")
	}
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		t.Skip("kernel has no PID namespaces (CONFIG_PID_NS)")
	}
	if !filesystemSupported("overlay") {
		t.Skip("kernel has no overlayfs (CONFIG_OVERLAY_FS)")
	}
}

func filesystemSupported(fs string) bool {
	data, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	if bytes.Contains(data, []byte("\t"+fs+"\n")) {
		return true
	}
	// Modules load on first mount; ask modprobe quietly.
	return exec.Command("modprobe", "-q", fs).Run() == nil
}

// buildBinaries compiles zoned and zonectl once per test run.
func buildBinaries(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		// The stock-kernel lane runs these tests under emulation, where
		// compiling is slow: it builds the binaries outside and says where.
		if dir := os.Getenv("ZONED_TEST_BIN_DIR"); dir != "" {
			zonedBin, zonectlBin = filepath.Join(dir, "zoned"), filepath.Join(dir, "zonectl")
			return
		}
		binDir, buildErr = os.MkdirTemp("", "zoned-it-bin-")
		if buildErr != nil {
			return
		}
		zonedBin = filepath.Join(binDir, "zoned")
		zonectlBin = filepath.Join(binDir, "zonectl")
		for bin, pkg := range map[string]string{zonedBin: "../cmd/zoned", zonectlBin: "../cmd/zonectl"} {
			out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// daemon is a zoned started by a test, with its own state.
type daemon struct {
	t            testing.TB
	dataDir      string
	socket       string
	cgroupParent string
	cmd          *exec.Cmd
	log          *bytes.Buffer
	logMu        sync.Mutex
	c            *client.Client
	// wrap runs the daemon through a command (nsenter into a network
	// namespace the test made); set by a startDaemon option.
	wrap      []string
	extraArgs []string // more zoned flags, set before start
	// inherit are files the daemon inherits at the given descriptor
	// numbers, without close-on-exec, as from a careless parent.
	inherit map[int]*os.File
}

// inheriting is a startDaemon option: the daemon starts with files open
// at the given descriptor numbers (3 and up), not close-on-exec.
func inheriting(files map[int]*os.File) func(*daemon) {
	return func(d *daemon) { d.inherit = files }
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startDaemon starts a daemon for t and registers the cleanup that
// destroys its zones, stops it and checks it left nothing on the host.
func startDaemon(t testing.TB, opts ...func(*daemon)) *daemon {
	return startDaemonWith(t, nil, opts...)
}

// inDataDir is a startDaemon option: the daemon keeps its state in dir
// (on a filesystem the test made) instead of a temporary directory.
func inDataDir(dir string) func(*daemon) {
	return func(d *daemon) { d.dataDir = dir }
}

// startDaemonWith is startDaemon with more zoned flags.
func startDaemonWith(t testing.TB, args []string, opts ...func(*daemon)) *daemon {
	t.Helper()
	requireRoot(t)
	buildBinaries(t)
	d := &daemon{
		t:            t,
		cgroupParent: "/zoned-it-" + randomSuffix(),
		log:          &bytes.Buffer{},
		extraArgs:    args,
	}
	for _, o := range opts {
		o(d)
	}
	if d.dataDir == "" {
		dir, err := os.MkdirTemp("", "zoned-it-")
		if err != nil {
			t.Fatal(err)
		}
		d.dataDir = dir
	} else if err := os.MkdirAll(d.dataDir, 0o711); err != nil {
		t.Fatal(err)
	}
	d.socket = filepath.Join(d.dataDir, "zoned.sock")
	d.c = client.New(d.socket)
	d.start()
	t.Cleanup(d.cleanup)
	return d
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (d *daemon) start() {
	d.t.Helper()
	args := []string{zonedBin, "-data-dir", d.dataDir, "-socket", d.socket, "-cgroup-parent", d.cgroupParent, "-log-level", "debug"}
	args = append(append(d.wrap, args...), d.extraArgs...)
	cmd := exec.Command(args[0], args[1:]...)
	w := lockedWriter{&d.logMu, d.log}
	cmd.Stdout, cmd.Stderr = w, w
	// The daemon gets its own session like a real service: zones must
	// not depend on the test's process group either.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	for fd, f := range d.inherit {
		// ExtraFiles[i] becomes descriptor 3+i; nil entries are closed.
		for len(cmd.ExtraFiles) <= fd-3 {
			cmd.ExtraFiles = append(cmd.ExtraFiles, nil)
		}
		cmd.ExtraFiles[fd-3] = f
	}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.c.Info(ctx)
		cancel()
		if err == nil {
			return
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("zoned did not come up on %s; log:\n%s", d.socket, d.logs())
}

func (d *daemon) logs() string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	return d.log.String()
}

// stop ends the daemon gracefully (zones keep running).
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
		d.t.Errorf("zoned did not exit within 20s of SIGTERM")
	}
	d.cmd = nil
}

// kill9 kills the daemon without giving it a chance to clean anything.
func (d *daemon) kill9() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	d.cmd = nil
}

func (d *daemon) cleanup() {
	t := d.t
	if d.cmd == nil {
		d.start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	zones, err := d.c.ListZones(ctx)
	if err != nil {
		t.Errorf("cleanup: list zones: %v", err)
	}
	var pids []int
	for _, z := range zones {
		if z.InitPID > 0 {
			pids = append(pids, z.InitPID)
		}
		if err := d.c.DestroyZone(ctx, z.Name, true); err != nil {
			t.Errorf("cleanup: destroy %s: %v", z.Name, err)
		}
	}
	d.stop()
	if t.Failed() {
		t.Logf("zoned log:\n%s", d.logs())
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("leak: zone init pid %d still alive after destroy", pid)
		}
	}
	// A daemon that ends with no zone removes the zones' parent group
	// from every hierarchy; what is left is a leak.
	for _, dir := range cgroupDirs(d.cgroupParent) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				t.Errorf("leak: cgroup %s/%s left behind", dir, e.Name())
			}
		}
		t.Errorf("leak: cgroup parent %s left after zoned stopped with no zones", dir)
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("leak: cannot remove cgroup parent %s: %v", dir, err)
		}
	}
	if zonesDir, err := os.ReadDir(filepath.Join(d.dataDir, "zones")); err == nil && len(zonesDir) > 0 {
		t.Errorf("leak: zone directories left in %s: %v", d.dataDir, zonesDir)
	}
	if err := checkNoMountsUnder(d.dataDir); err != nil {
		t.Error(err)
	}
	os.RemoveAll(d.dataDir)
}

// cgroupDirs lists the directories of cgroup path in every mounted
// hierarchy (v1) or the unified tree (v2).
func cgroupDirs(path string) []string {
	var dirs []string
	for _, m := range cgroupMounts() {
		dir := filepath.Join(m, path)
		if _, err := os.Stat(dir); err == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// cgroupMounts lists where every cgroup hierarchy (v1 controllers, the
// hybrid or full unified tree) is mounted.
func cgroupMounts() []string {
	var mounts []string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && (fields[i+1] == "cgroup" || fields[i+1] == "cgroup2") {
				mounts = append(mounts, fields[4])
			}
		}
	}
	return mounts
}

// checkNoMountsUnder looks through every process's mount table for mounts
// under dir: zone roots are mounted only inside zones' own namespaces.
func checkNoMountsUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			return fmt.Errorf("leak: mount %s left in the host's mount namespace", f[4])
		}
	}
	return nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// createStarted makes and starts a busybox zone.
func (d *daemon) createStarted(name string, res api.Resources) *api.Zone {
	d.t.Helper()
	ctx := ctxT(d.t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: "busybox", Resources: res}); err != nil {
		d.t.Fatalf("create %s: %v", name, err)
	}
	z, err := d.c.StartZone(ctx, name)
	if err != nil {
		d.t.Fatalf("start %s: %v\nlog:\n%s", name, err, d.logs())
	}
	return z
}

// execResult is what a command run in a zone gave.
type execResult struct {
	stdout, stderr string
	code           int
}

func (d *daemon) exec(zone string, stdin string, args ...string) execResult {
	d.t.Helper()
	var out, errb bytes.Buffer
	code, err := d.c.Exec(ctxT(d.t), zone, api.ExecRequest{Command: args}, client.ExecOptions{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
	})
	if err != nil {
		d.t.Fatalf("exec %v in %s: %v", args, zone, err)
	}
	return execResult{out.String(), errb.String(), code}
}

// mustExec runs a command that must succeed and returns its stdout.
func (d *daemon) mustExec(zone string, args ...string) string {
	d.t.Helper()
	r := d.exec(zone, "", args...)
	if r.code != 0 {
		d.t.Fatalf("exec %v in %s: exit %d, stderr %q", args, zone, r.code, r.stderr)
	}
	return r.stdout
}

// zonectl runs the CLI against this daemon.
func (d *daemon) zonectl(stdin string, args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(zonectlBin, append([]string{"--socket", d.socket}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// cgroupFile reads a file of a zone's cgroup in a v1 controller
// hierarchy, or in the unified tree on v2 (controller ignored).
func (d *daemon) cgroupFile(zone, controller, file string) string {
	d.t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", controller, d.cgroupParent, zone, file),
		filepath.Join("/sys/fs/cgroup", d.cgroupParent, zone, file),
	} {
		if data, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	d.t.Fatalf("no cgroup file %s for zone %s", file, zone)
	return ""
}
