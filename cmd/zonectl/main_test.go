package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
)

// zonectl runs the real command tree in-process.
func zonectl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// absentSocket is a socket path nothing listens on.
func absentSocket(t *testing.T) string {
	return filepath.Join(t.TempDir(), "absent.sock")
}

func TestUnreachableDaemonIsOneLine(t *testing.T) {
	sock := absentSocket(t)
	for _, args := range [][]string{
		{"list"}, {"info"}, {"create", "web1"}, {"start", "web1"}, {"destroy", "web1", "--force"},
		{"set", "web1", "--memory", "1G"}, {"exec", "web1", "--", "true"}, {"template", "list"},
	} {
		code, stdout, stderr := zonectl(t, append([]string{"--socket", sock}, args...)...)
		want := "zonectl: cannot reach zoned at " + sock + ": is the daemon running?"
		if code != 1 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("zonectl %v: code %d, stdout %q, stderr %q; want one line starting %q", args, code, stdout, stderr, want)
		}
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	sock := absentSocket(t)
	t.Setenv("ZONED_SOCKET", sock)
	_, _, stderr := zonectl(t, "list")
	if !strings.Contains(stderr, "cannot reach zoned at "+sock+":") {
		t.Errorf("ZONED_SOCKET not used: %q", stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	sock := absentSocket(t)
	for _, tc := range []struct {
		args []string
		want string // in the first line
	}{
		{[]string{"create"}, `"zonectl create" needs NAME`},
		{[]string{"create", "a", "b"}, `got extra argument "b"`},
		{[]string{"create", "web1", "--memory", "12X"}, `--memory: invalid size "12X"`},
		{[]string{"create", "web1", "--cpu-limit", "lots"}, `"lots"`},
		{[]string{"create", "web1", "--cpu-weight", "0.5"}, `"0.5"`},
		{[]string{"create", "web1", "--pids", "-3"}, `"-3"`},
		{[]string{"create", "web1", "--cpus", "a-b"}, `"a-b"`},
		{[]string{"set", "web1"}, "nothing to change"},
		{[]string{"set", "web1", "--swap", "1Q"}, `"1Q"`},
		{[]string{"stop", "web1", "--timeout", "-1s"}, "--timeout"},
		{[]string{"stop", "web1", "--timeout", "soon"}, `"soon"`},
		{[]string{"list", "-o", "xml"}, `invalid --output "xml"`},
		{[]string{"list", "extra"}, "takes no arguments"},
		{[]string{"exec", "web1"}, "needs a COMMAND"},
		{[]string{"exec", "web1", "-e", "NOVALUE", "--", "env"}, `"NOVALUE"`},
		{[]string{"exec", "a", "b", "--", "true"}, "one NAME before --"},
		{[]string{"template", "import", "x"}, "needs FILE"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"template", "bogus"}, `unknown command "bogus"`},
		{[]string{"list", "--bogus"}, "unknown flag: --bogus"},
	} {
		code, stdout, stderr := zonectl(t, append([]string{"--socket", sock}, tc.args...)...)
		first, rest, _ := strings.Cut(stderr, "\n")
		if code != 1 || !strings.HasPrefix(first, "zonectl: ") || !strings.Contains(first, tc.want) {
			t.Errorf("zonectl %v: code %d, first line %q; want %q", tc.args, code, first, tc.want)
		}
		// A command-line mistake earns usage, and never a daemon call.
		if !strings.Contains(rest, "Usage:") {
			t.Errorf("zonectl %v: no usage after the error: %q", tc.args, rest)
		}
		if strings.Contains(stderr, "cannot reach") || stdout != "" {
			t.Errorf("zonectl %v: contacted the daemon or printed to stdout: %q %q", tc.args, stdout, stderr)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, stdout, _ := zonectl(t, "create", "--help")
	if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, `--template string`) {
		t.Errorf("create --help: code %d, %q", code, stdout)
	}
	code, stdout, stderr := zonectl(t, "version", "--socket", absentSocket(t))
	if code != 1 || stdout != "zonectl version dev (API v1)\n" || !strings.Contains(stderr, "cannot reach zoned") {
		t.Errorf("version: code %d, %q, %q", code, stdout, stderr)
	}
}

// Every command explains itself: a missing Example is a bug.
func TestEveryCommandDocumented(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%q lacks Short, Long or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(newRootCmd(&app{}))
}

// fakeDaemon serves canned answers on a real Unix socket and records what
// zonectl sent.
type fakeDaemon struct {
	mu     sync.Mutex
	bodies map[string]json.RawMessage // "METHOD path" -> request body
	sock   string
}

func (f *fakeDaemon) record(r *http.Request) {
	var raw json.RawMessage
	_ = json.NewDecoder(r.Body).Decode(&raw)
	f.mu.Lock()
	f.bodies[r.Method+" "+r.URL.Path] = raw
	f.mu.Unlock()
}

func (f *fakeDaemon) body(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.bodies[key])
}

func startFakeDaemon(t *testing.T) *fakeDaemon {
	f := &fakeDaemon{bodies: map[string]json.RawMessage{}, sock: filepath.Join(t.TempDir(), "zoned.sock")}
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/zones", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		reply(w, http.StatusCreated, api.Zone{Name: "web1", Template: "busybox", State: api.StateStopped})
	})
	mux.HandleFunc("PATCH /v1/zones/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		reply(w, http.StatusOK, api.Zone{Name: r.PathValue("name")})
	})
	mux.HandleFunc("POST /v1/zones/{name}/start", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, api.Error{Code: "not_found", Message: fmt.Sprintf("zone %q not found", r.PathValue("name"))})
	})
	mux.HandleFunc("GET /v1/zones", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, sampleZones())
	})
	mux.HandleFunc("POST /v1/templates", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		reply(w, http.StatusAccepted, api.Operation{ID: "op7", Status: api.OperationRunning, Progress: 0, Message: "starting debootstrap"})
	})
	mux.HandleFunc("GET /v1/operations/{id}/wait", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, api.Operation{ID: "op7", Status: api.OperationFailure, Progress: 40, Message: "fetching packages",
			Err: &api.Error{Code: "unavailable", Message: "debootstrap: cannot reach mirror"}})
	})
	mux.HandleFunc("POST /v1/zones/{name}/exec", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.UpgradeProtocol)
		_ = brw.Flush()
		_ = api.WriteFrame(conn, api.FrameStdout, []byte("out\n"))
		_ = api.WriteFrame(conn, api.FrameStderr, []byte("err\n"))
		_ = api.WriteFrame(conn, api.FrameExit, api.ExitPayload(42))
	})
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func TestCreateSendsParsedLimits(t *testing.T) {
	f := startFakeDaemon(t)
	code, stdout, stderr := zonectl(t, "--socket", f.sock, "create", "web1", "--memory", "512M", "--swap", "256M",
		"--cpus", "0-1", "--cpu-limit", "150%", "--cpu-weight", "200", "--pids", "100", "--autostart", "--hostname", "www")
	if code != 0 || stderr != "" {
		t.Fatalf("create: code %d, stderr %q", code, stderr)
	}
	var got api.CreateZoneRequest
	if err := json.Unmarshal([]byte(f.body("POST /v1/zones")), &got); err != nil {
		t.Fatal(err)
	}
	want := api.CreateZoneRequest{Name: "web1", Template: "busybox", Hostname: "www", Autostart: true, Resources: api.Resources{
		MemoryBytes: 512 << 20, SwapBytes: 256 << 20, CPUs: "0-1", CPULimitPercent: 150, CPUWeight: 200, PidsMax: 100}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("daemon got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(stdout, `zone "web1" created`) {
		t.Errorf("stdout %q", stdout)
	}
}

func TestSetSendsOnlyGivenFlags(t *testing.T) {
	f := startFakeDaemon(t)
	code, _, stderr := zonectl(t, "--socket", f.sock, "set", "web1", "--memory", "none", "--cpu-limit", "1.5", "--autostart=false")
	if code != 0 {
		t.Fatalf("set: code %d, stderr %q", code, stderr)
	}
	// Exact JSON: the removed memory limit is an explicit 0, the flags not
	// given are absent.
	want := `{"resources":{"memory_bytes":0,"cpu_limit_percent":150},"autostart":false}`
	if got := f.body("PATCH /v1/zones/web1"); got != want {
		t.Errorf("PATCH body = %s\nwant         %s", got, want)
	}
}

func TestServerErrorIsOneLine(t *testing.T) {
	f := startFakeDaemon(t)
	code, stdout, stderr := zonectl(t, "--socket", f.sock, "start", "ghost")
	if code != 1 || stdout != "" || stderr != "zonectl: zone \"ghost\" not found\n" {
		t.Errorf("start ghost: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestListThroughDaemon(t *testing.T) {
	f := startFakeDaemon(t)
	code, stdout, _ := zonectl(t, "--socket", f.sock, "list", "-o", "json")
	var zones []api.Zone
	if code != 0 || json.Unmarshal([]byte(stdout), &zones) != nil || len(zones) != 2 {
		t.Fatalf("list -o json: code %d, %q", code, stdout)
	}
}

func TestExecPassesExitCodeAndStreams(t *testing.T) {
	f := startFakeDaemon(t)
	code, stdout, stderr := zonectl(t, "--socket", f.sock, "exec", "web1", "-e", "A=1", "--cwd", "/tmp", "--", "sh", "-c", "exit 42")
	if code != 42 || stdout != "out\n" || stderr != "err\n" {
		t.Errorf("exec: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var req api.ExecRequest
	if err := json.Unmarshal([]byte(f.body("POST /v1/zones/web1/exec")), &req); err != nil {
		t.Fatal(err)
	}
	if strings.Join(req.Command, " ") != "sh -c exit 42" || req.Cwd != "/tmp" || strings.Join(req.Env, ",") != "A=1" || req.TTY {
		t.Errorf("daemon got %+v", req)
	}
}

func TestTemplateCreateFailureExitsNonZero(t *testing.T) {
	f := startFakeDaemon(t)
	code, _, stderr := zonectl(t, "--socket", f.sock, "template", "create", "deb", "--include", "curl,less")
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != 1 || len(lines) != 3 || lines[0] != "[  0%] starting debootstrap" || lines[1] != "[ 40%] fetching packages" ||
		lines[2] != "zonectl: debootstrap: cannot reach mirror" {
		t.Errorf("template create: code %d, stderr %q", code, stderr)
	}
	want := `{"name":"deb","from":"debootstrap","suite":"bookworm","include":["curl","less"]}`
	if got := f.body("POST /v1/templates"); got != want {
		t.Errorf("POST body = %s, want %s", got, want)
	}
}
