//go:build linux

package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/testfs"
)

// rawHTTP sends requests to the daemon's socket without the client
// package, so tests can send what a buggy or hostile caller would.
func (d *daemon) rawHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
		},
	}}
}

// hostState is what a rejected request must not change.
type hostState struct {
	zones, templates, zoneDirs, cgroups string
}

func (d *daemon) snapshot(t *testing.T) hostState {
	t.Helper()
	ctx := ctxT(t)
	zones, err := d.c.ListZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var zs []string
	for _, z := range zones {
		zs = append(zs, z.Name+":"+string(z.State)+":"+strings.Join([]string{z.Resources.CPUs}, ""))
	}
	tmpls, err := d.c.ListTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, tm := range tmpls {
		ts = append(ts, tm.Name)
	}
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "zones"))
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	var cgs []string
	for _, dir := range cgroupDirs(d.cgroupParent) {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if e.IsDir() {
				cgs = append(cgs, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Strings(cgs)
	return hostState{strings.Join(zs, ","), strings.Join(ts, ","), strings.Join(dirs, ","), strings.Join(cgs, ",")}
}

func TestBadRequestsAre4xxAndChangeNothing(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("exists", api.Resources{MemoryBytes: 64 << 20})
	hc := d.rawHTTP()
	before := d.snapshot(t)

	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code, field              string
	}{
		{"malformed JSON", "POST", "/v1/zones", `{`, nil, 400, "invalid_argument", ""},
		{"empty body", "POST", "/v1/zones", ``, nil, 400, "invalid_argument", ""},
		{"no name", "POST", "/v1/zones", `{}`, nil, 400, "invalid_argument", "name"},
		{"path in name", "POST", "/v1/zones", `{"name":"../../etc"}`, nil, 400, "invalid_argument", "name"},
		{"upper case name", "POST", "/v1/zones", `{"name":"Web"}`, nil, 400, "invalid_argument", "name"},
		{"long name", "POST", "/v1/zones", `{"name":"` + strings.Repeat("a", 64) + `"}`, nil, 400, "invalid_argument", "name"},
		{"unknown field", "POST", "/v1/zones", `{"name":"x1","memroy_bytes":5}`, nil, 400, "invalid_argument", ""},
		{"negative memory", "POST", "/v1/zones", `{"name":"x1","resources":{"memory_bytes":-1}}`, nil, 400, "invalid_argument", "resources"},
		{"memory as text", "POST", "/v1/zones", `{"name":"x1","resources":{"memory_bytes":"lots"}}`, nil, 400, "invalid_argument", "resources.memory_bytes"},
		{"tiny memory", "POST", "/v1/zones", `{"name":"x1","resources":{"memory_bytes":1000}}`, nil, 400, "invalid_argument", "resources"},
		{"cpus host lacks", "POST", "/v1/zones", `{"name":"x1","resources":{"cpus":"0-999"}}`, nil, 400, "invalid_argument", "resources"},
		{"cpuset syntax", "POST", "/v1/zones", `{"name":"x1","resources":{"cpus":"1-"}}`, nil, 400, "invalid_argument", "resources"},
		{"weight too big", "POST", "/v1/zones", `{"name":"x1","resources":{"cpu_weight":20000}}`, nil, 400, "invalid_argument", "resources"},
		{"swap without memory", "POST", "/v1/zones", `{"name":"x1","resources":{"swap_bytes":1048576}}`, nil, 400, "invalid_argument", "resources"},
		{"bad hostname", "POST", "/v1/zones", `{"name":"x1","hostname":"bad_host!"}`, nil, 400, "invalid_argument", "hostname"},
		{"missing template", "POST", "/v1/zones", `{"name":"x1","template":"nosuch"}`, nil, 404, "not_found", "template"},
		{"bad template name", "POST", "/v1/zones", `{"name":"x1","template":"../x"}`, nil, 400, "invalid_argument", "template"},
		{"duplicate", "POST", "/v1/zones", `{"name":"exists"}`, nil, 409, "already_exists", "name"},
		{"huge body", "POST", "/v1/zones", `{"name":"x1","hostname":"` + strings.Repeat("a", 2<<20) + `"}`, nil, 400, "invalid_argument", ""},
		{"get missing", "GET", "/v1/zones/nosuch", ``, nil, 404, "not_found", ""},
		{"get escaping name", "GET", "/v1/zones/..%2F..%2Fetc", ``, nil, 400, "invalid_argument", ""},
		{"destroy running", "DELETE", "/v1/zones/exists", ``, nil, 409, "conflict", ""},
		{"destroy bad force", "DELETE", "/v1/zones/exists?force=maybe", ``, nil, 400, "invalid_argument", "force"},
		{"start running", "POST", "/v1/zones/exists/start", ``, nil, 409, "conflict", ""},
		{"negative timeout", "POST", "/v1/zones/exists/stop", `{"timeout_seconds":-1}`, nil, 400, "invalid_argument", "timeout_seconds"},
		{"stop missing", "POST", "/v1/zones/nosuch/stop", ``, nil, 404, "not_found", ""},
		{"patch missing", "PATCH", "/v1/zones/nosuch", `{}`, nil, 404, "not_found", ""},
		{"patch negative pids", "PATCH", "/v1/zones/exists", `{"resources":{"pids_max":-3}}`, nil, 400, "invalid_argument", "resources"},
		{"patch bad cpus", "PATCH", "/v1/zones/exists", `{"resources":{"cpus":"x"}}`, nil, 400, "invalid_argument", "resources"},
		{"exec without upgrade", "POST", "/v1/zones/exists/exec", `{"command":["true"]}`, nil, 400, "invalid_argument", ""},
		{"exec empty command", "POST", "/v1/zones/exists/exec", `{"command":[]}`, map[string]string{"Connection": "Upgrade", "Upgrade": api.UpgradeProtocol}, 400, "invalid_argument", "command"},
		{"exec missing command", "POST", "/v1/zones/exists/exec", `{"command":["/nope"]}`, map[string]string{"Connection": "Upgrade", "Upgrade": api.UpgradeProtocol}, 400, "invalid_argument", "command"},
		{"wrong method", "PUT", "/v1/zones", `{}`, nil, 405, "method_not_allowed", ""},
		{"no route", "GET", "/v1/nowhere", ``, nil, 404, "not_found", ""},
		{"unknown template source", "POST", "/v1/templates", `{"name":"t1","from":"ftp"}`, nil, 400, "invalid_argument", "from"},
		{"bad include", "POST", "/v1/templates", `{"name":"t1","from":"debootstrap","include":["--evil"]}`, nil, 400, "invalid_argument", "include"},
		{"garbage import", "PUT", "/v1/templates/t1", `this is not a tar archive at all`, nil, 400, "invalid_argument", ""},
		{"operation missing", "GET", "/v1/operations/nosuch", ``, nil, 404, "not_found", ""},
		{"wait bad timeout", "GET", "/v1/operations/nosuch/wait?timeout=soon", ``, nil, 400, "invalid_argument", "timeout"},
		{"delete template in use", "DELETE", "/v1/templates/busybox", ``, nil, 409, "conflict", ""},
		{"no content type", "POST", "/v1/zones", `{"name":"x1"}`, map[string]string{"Content-Type": ""}, 415, "unsupported_media_type", ""},
		{"form content type", "PATCH", "/v1/zones/exists", `{"autostart":true}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", ""},
		{"zone named like a route", "POST", "/v1/zones", `{"name":"import"}`, nil, 400, "invalid_argument", "name"},
		{"get the import route", "GET", "/v1/zones/import", ``, nil, 405, "method_not_allowed", ""},
		{"patch the import route", "PATCH", "/v1/zones/import", `{}`, nil, 405, "method_not_allowed", ""},
		{"delete the import route", "DELETE", "/v1/zones/import", ``, nil, 405, "method_not_allowed", ""},
		{"post metrics", "POST", "/metrics", ``, nil, 405, "method_not_allowed", ""},
		{"missing import file", "POST", "/v1/zones/import", `{"path":"/nonexistent/web.tar"}`, nil, 400, "invalid_argument", "path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://zoned"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" && tc.method != "PUT" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tc.header {
				if v == "" {
					req.Header.Del(k)
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e api.Error
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("status %d with a body that is not an api.Error: %q", resp.StatusCode, body)
			}
			if resp.StatusCode != tc.status || e.Code != tc.code {
				t.Errorf("got %d %s (%q), want %d %s", resp.StatusCode, e.Code, e.Message, tc.status, tc.code)
			}
			if tc.field != "" && e.Field != tc.field {
				t.Errorf("field %q, want %q (message %q)", e.Field, tc.field, e.Message)
			}
			if e.Message == "" {
				t.Errorf("empty error message")
			}
			if resp.StatusCode == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if tc.name == "missing import file" && !strings.Contains(e.Message, "/nonexistent/web.tar") || tc.name == "missing import file" && !strings.Contains(e.Message, "does not exist") {
				t.Errorf("message %q does not say which file is missing", e.Message)
			}
		})
	}
	if after := d.snapshot(t); after != before {
		t.Errorf("rejected requests changed the host:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, err := os.Stat(filepath.Join(d.dataDir, "templates", "t1")); err == nil {
		t.Errorf("a rejected import left a template directory")
	}
	if z, err := d.c.GetZone(ctxT(t), "exists"); err != nil || z.State != api.StateRunning || z.Resources.MemoryBytes != 64<<20 {
		t.Errorf("the existing zone changed: %+v %v", z, err)
	}
}

// TestCallsSerializePerZoneAndRunInParallelAcrossZones stops one zone
// slowly and checks that a call on another zone completes meanwhile, and
// that a second call on the slow zone waits for the stop to finish.
func TestCallsSerializePerZoneAndRunInParallelAcrossZones(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	d.createStarted("slow", api.Resources{})
	d.createStarted("fast", api.Resources{})
	d.mustExec("slow", "sh", "-c", "printf '#!/bin/sh\\nsleep 600\\n' > /etc/rc.d/K01hang && chmod +x /etc/rc.d/K01hang")

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := d.c.StopZone(ctx, "slow", api.StopRequest{TimeoutSeconds: 3}); err != nil {
			t.Error(err)
		}
	}()
	// The stop holds the zone's lock for its whole 3 s timeout.
	waitFor(t, 10*time.Second, "slow zone to be stopping", func() bool {
		z, err := d.c.GetZone(ctx, "slow")
		return err == nil && z.State == api.StateStopping
	})
	var updated *api.Zone
	go func() {
		defer wg.Done()
		pids := int64(77)
		z, err := d.c.UpdateZone(ctx, "slow", api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &pids}})
		if err != nil {
			t.Error(err)
		}
		updated = z
	}()
	// Another zone is not held up by the slow one.
	if out := d.mustExec("fast", "echo", "ok"); strings.TrimSpace(out) != "ok" {
		t.Errorf("exec in other zone: %q", out)
	}
	pids := int64(55)
	if _, err := d.c.UpdateZone(ctx, "fast", api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &pids}}); err != nil {
		t.Fatal(err)
	}
	if z, err := d.c.GetZone(ctx, "slow"); err != nil || z.State != api.StateStopping {
		t.Errorf("calls on another zone waited for the slow stop (slow zone is now %+v, %v)", z, err)
	}
	wg.Wait()
	// The update on the slow zone waited for its stop: it saw it stopped.
	if updated == nil || updated.State != api.StateStopped || updated.Resources.PidsMax != 77 {
		t.Errorf("update queued behind the stop returned %+v; want the zone stopped with the new limit", updated)
	}
}

func TestExecWithTerminal(t *testing.T) {
	d := startDaemon(t)
	d.createStarted("tty", api.Resources{})
	ctx := ctxT(t)
	var out bytes.Buffer
	code, err := d.c.Exec(ctx, "tty", api.ExecRequest{Command: []string{"sh", "-c", "tty; stty size"}, TTY: true, Width: 77, Height: 33}, client.ExecOptions{Stdout: &out})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(out.String(), "\r", "")), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "33 77" {
		t.Errorf("tty output %q, want a /dev/pts/N line and '33 77'", lines)
	}
	// A resize while the command runs reaches its terminal.
	resize := make(chan [2]uint16, 1)
	stdinR, stdinW := io.Pipe()
	out.Reset()
	done := make(chan error, 1)
	go func() {
		_, err := d.c.Exec(ctx, "tty", api.ExecRequest{Command: []string{"sh", "-c", "read x; stty size"}, TTY: true, Width: 80, Height: 24},
			client.ExecOptions{Stdin: stdinR, Stdout: &out, Resize: resize})
		done <- err
	}()
	resize <- [2]uint16{120, 40}
	time.Sleep(200 * time.Millisecond) // let the resize frame land before the line
	_, _ = stdinW.Write([]byte("go\n"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stdinW.Close()
	if !strings.Contains(out.String(), "40 120") {
		t.Errorf("after resize the terminal says %q, want 40 120", out.String())
	}
}

// TestDiskFullIs507AndLeavesNothing runs a daemon whose data dir is a
// small tmpfs, fills it, and checks that calls that must write answer
// 507 insufficient_storage (not 500 internal), say so in the audit line,
// and leave nothing half-made: no zone, no directory, no cgroup, no
// temporary file of the /proc view. With the space back, the same calls
// succeed.
func TestDiskFullIs507AndLeavesNothing(t *testing.T) {
	mnt := testfs.Tmpfs(t, 64, 4096)
	// The /proc view's state on a filesystem of its own, to fill it
	// alone: the store's writes go through and the view's update is the
	// one that fails.
	// (A link to it: the harness wants no mount left in the data dir.)
	viewDir := testfs.Tmpfs(t, 1, 0)
	if err := os.Mkdir(filepath.Join(mnt, "data"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(viewDir, filepath.Join(mnt, "data", "procview")); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, inDataDir(filepath.Join(mnt, "data")))
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "web", Template: "busybox", Resources: api.Resources{MemoryBytes: 64 << 20}}); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "web.tar")
	op, err := d.c.ExportZone(ctx, "web", api.ExportZoneRequest{Path: archive})
	if err == nil {
		op, err = d.c.WaitOperation(ctx, op.ID, 0)
	}
	if err != nil || op.Status != api.OperationSuccess {
		t.Fatalf("export: %+v %v", op, err)
	}
	before := d.snapshot(t)

	wantNoSpace := func(what string, err error) {
		t.Helper()
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusInsufficientStorage || ce.Code != "insufficient_storage" {
			t.Errorf("%s on a full disk: %v (%#v), want 507 insufficient_storage", what, err, ce)
		}
		if !errors.Is(err, errdefs.ErrNoSpace) {
			t.Errorf("%s: errors.Is(%v, errdefs.ErrNoSpace) is false", what, err)
		}
	}
	noViewTemp := func() {
		t.Helper()
		tmps, _ := filepath.Glob(filepath.Join(d.dataDir, "procview", "zones", "*tmp*"))
		if len(tmps) > 0 {
			t.Errorf("temporary files left: %v", tmps)
		}
	}

	// The view's disk is full, the store's is not: its file is made, its
	// write fails (the 0-byte view file that used to come with a 200).
	freeView := testfs.FillBlocks(t, viewDir)
	_, err = d.c.StartZone(ctx, "web")
	wantNoSpace("start (view full)", err)
	noViewTemp()
	freeView()
	if z, err := d.c.GetZone(ctx, "web"); err != nil || z.State != api.StateStopped {
		t.Errorf("after a failed start: %+v %v", z, err)
	}

	// No block left, inodes left: the store's writes fail.
	freeBlocks := testfs.FillBlocks(t, mnt)
	// A change of limits writes the store only; bbolt may find a free
	// page for it, but if it does not, the answer says why.
	if _, err := d.c.UpdateZone(ctx, "web", api.ZonePatch{Labels: map[string]string{"tier": "front"}}); err != nil {
		wantNoSpace("set", err)
	}

	// No inode left either: not even a directory can be made.
	freeInodes := testfs.FillInodes(t, mnt)
	_, err = d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "more", Template: "busybox"})
	wantNoSpace("create", err)
	if op, err := d.c.ImportZone(ctx, api.ImportZoneRequest{Path: archive, Name: "copy"}); err != nil {
		wantNoSpace("import", err)
	} else if op, err = d.c.WaitOperation(ctx, op.ID, 0); err != nil || op.Status != api.OperationFailure || op.Err == nil || op.Err.Code != "insufficient_storage" {
		t.Errorf("import on a full disk: %+v %v, want failed insufficient_storage", op, err)
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, name := range []string{"bin/", "etc/", "etc/hostname"} {
		hdr := &tar.Header{Name: name, Mode: 0o755, Typeflag: tar.TypeDir}
		if !strings.HasSuffix(name, "/") {
			hdr = &tar.Header{Name: name, Mode: 0o644, Size: 3, Typeflag: tar.TypeReg}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			_, _ = tw.Write([]byte("tz\n"))
		}
	}
	tw.Close()
	_, err = d.c.ImportTemplate(ctx, "tiny", bytes.NewReader(tarball.Bytes()))
	wantNoSpace("template import", err)
	if !strings.Contains(d.logs(), "code=insufficient_storage") {
		t.Errorf("the audit lines do not say insufficient_storage")
	}
	freeInodes()
	freeBlocks()
	// The view's own group lingers a while after a start (viewLinger).
	after := d.snapshot(t)
	before.cgroups, after.cgroups = dropView(before.cgroups), dropView(after.cgroups)
	if after != before {
		t.Errorf("calls refused for a full disk changed the host:\nbefore %+v\nafter  %+v", before, after)
	}

	// Space is back: the same calls succeed.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "more", Template: "busybox"}); err != nil {
		t.Errorf("create with space again: %v", err)
	}
	if _, err := d.c.StartZone(ctx, "web"); err != nil {
		t.Errorf("start with space again: %v", err)
	}
	noViewTemp()
}

func dropView(cgroups string) string {
	var keep []string
	for _, c := range strings.Split(cgroups, ",") {
		if !strings.HasSuffix(c, "/_viewfs") {
			keep = append(keep, c)
		}
	}
	return strings.Join(keep, ",")
}
