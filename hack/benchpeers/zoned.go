//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// zonedDaemon is the benchmark's own zoned.
type zonedDaemon struct {
	cmd     *exec.Cmd
	dataDir string
	socket  string
	cgroup  string // the daemon's -cgroup-parent
	c       *client.Client
	log     *os.File
}

func (b *Bench) startZoned(ctx context.Context) (*zonedDaemon, error) {
	if _, err := os.Stat(b.cfg.Zoned); err != nil {
		return nil, fmt.Errorf("zoned binary: %w (hack/build.sh builds it)", err)
	}
	z := &zonedDaemon{
		dataDir: filepath.Join(b.workDir, "zoned"),
		cgroup:  b.cgroup + "/zoned",
	}
	z.socket = filepath.Join(z.dataDir, "zoned.sock")
	if err := os.MkdirAll(z.dataDir, 0o711); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(b.workDir, "zoned.log"))
	if err != nil {
		return nil, err
	}
	z.log = logf
	z.cmd = exec.Command(b.cfg.Zoned, "-data-dir", z.dataDir, "-socket", z.socket, "-cgroup-parent", z.cgroup, "-log-level", "warn")
	z.cmd.Stdout, z.cmd.Stderr = logf, logf
	// Its own session, as a service has: zones must not hang on the
	// benchmark's process group, and Ctrl-C on the terminal reaches only
	// the benchmark, which then stops the daemon in order.
	z.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := z.cmd.Start(); err != nil {
		return nil, err
	}
	// Registered before anything else of the daemon's, so it runs last:
	// destroy every zone, then stop the daemon.
	b.onCleanup("stop zoned", z.stop)
	z.c = client.New(z.socket)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := z.c.Info(cctx)
		cancel()
		if err == nil {
			return z, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("zoned did not come up on %s (log: %s)", z.socket, logf.Name())
}

// stop destroys every zone the daemon still has and ends it.
func (z *zonedDaemon) stop() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if zones, err := z.c.ListZones(ctx); err == nil {
		for _, zn := range zones {
			if err := z.c.DestroyZone(ctx, zn.Name, true); err != nil {
				errs = append(errs, fmt.Errorf("destroy zone %s: %w", zn.Name, err))
			}
		}
	}
	_ = z.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- z.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = z.cmd.Process.Kill()
		<-done
		errs = append(errs, errors.New("zoned did not exit within 30s of SIGTERM"))
	}
	z.log.Close()
	return errors.Join(errs...)
}

// ensureTemplate makes sure the daemon has template name, building it if
// needed (the busybox one by creating and destroying a zone, a Debian one
// with debootstrap, which fsshare caches under /var/cache/zoned), and
// returns its root directory.
func (z *zonedDaemon) ensureTemplate(ctx context.Context, req api.CreateTemplateRequest) (string, error) {
	root := filepath.Join(z.dataDir, "templates", req.Name, "rootfs")
	if _, err := z.c.GetTemplate(ctx, req.Name); err == nil {
		return root, nil
	}
	if req.From == "builtin" {
		name := "bench-tmpl-" + req.Name
		if _, err := z.c.CreateZone(ctx, api.CreateZoneRequest{Name: name, Template: req.Name}); err != nil {
			return "", fmt.Errorf("create a zone to build template %s: %w", req.Name, err)
		}
		if err := z.c.DestroyZone(ctx, name, true); err != nil {
			return "", err
		}
		return root, nil
	}
	op, err := z.c.CreateTemplate(ctx, req)
	if err != nil {
		return "", fmt.Errorf("create template %s: %w", req.Name, err)
	}
	for {
		op, err = z.c.WaitOperation(ctx, op.ID, 30*time.Second)
		if err != nil {
			return "", err
		}
		if op.Status != api.OperationRunning {
			break
		}
	}
	if err := client.OperationError(op); err != nil {
		return "", fmt.Errorf("build template %s: %w", req.Name, err)
	}
	return root, nil
}

// exec runs a command in a zone and returns its exit code and output.
func (z *zonedDaemon) exec(ctx context.Context, zone string, args ...string) (int, string, error) {
	var out bytes.Buffer
	code, err := z.c.Exec(ctx, zone, api.ExecRequest{Command: args}, client.ExecOptions{Stdout: &out, Stderr: &out})
	return code, out.String(), err
}

// raw sends one HTTP request to the daemon's API, for routes the client
// package does not have (yet): the OpenAPI document and networks.
func (z *zonedDaemon) raw(ctx context.Context, method, path string, in, out any) error {
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", z.socket)
	}}}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://zoned"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// hasRoute says whether the daemon's OpenAPI document lists path, so a
// scenario that needs a feature still on another branch lights up once it
// is merged.
func (z *zonedDaemon) hasRoute(ctx context.Context, path string) bool {
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := z.raw(ctx, http.MethodGet, "/v1/openapi.json", nil, &doc); err != nil {
		return false
	}
	_, ok := doc.Paths[path]
	return ok
}

// rss returns a process's resident set size in bytes.
func rss(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(rest), &kb)
			return kb << 10
		}
	}
	return 0
}

// pss returns a process's proportional set size in bytes (its private
// pages plus its share of the pages it shares with others), from
// smaps_rollup.
func pss(pid int) uint64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			var kb uint64
			fmt.Sscan(strings.TrimSpace(rest), &kb)
			return kb << 10
		}
	}
	return 0
}
