package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// execServer speaks the server side of the exec stream, with a few canned
// "commands" that exercise each frame type.
type execServer struct {
	t       *testing.T
	arrived chan struct{} // closed when a "hang" command starts
	once    sync.Once
}

func (s *execServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req api.ExecRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Code: "invalid_argument", Message: err.Error()})
		return
	}
	if r.PathValue("name") == "stopped" {
		writeJSON(w, http.StatusConflict, api.Error{Code: "conflict", Message: `zone "stopped" is not running`})
		return
	}
	if r.Header.Get("Upgrade") != api.UpgradeProtocol || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
		writeJSON(w, http.StatusBadRequest, api.Error{Code: "invalid_argument", Message: "missing upgrade headers"})
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.t.Errorf("hijack: %v", err)
		return
	}
	defer conn.Close()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", api.UpgradeProtocol)
	if err := brw.Flush(); err != nil {
		return
	}
	in := brw.Reader
	out := func(t api.FrameType, p []byte) { _ = api.WriteFrame(conn, t, p) }

	switch req.Command[0] {
	case "upper": // stdin upper-cased to stdout, env and cwd echoed to stderr
		var got []byte
		for {
			t, p, err := api.ReadFrame(in)
			if err != nil {
				return
			}
			if t == api.FrameStdin {
				got = append(got, p...)
			}
			if t == api.FrameCloseStdin {
				break
			}
		}
		out(api.FrameStdout, bytes.ToUpper(got))
		out(api.FrameStderr, []byte(strings.Join(req.Env, ",")+" in "+req.Cwd))
		out(api.FrameExit, api.ExitPayload(3))
	case "tty": // waits for one resize and one signal, reports them
		var saw []string
		for len(saw) < 2 {
			t, p, err := api.ReadFrame(in)
			if err != nil {
				return
			}
			switch t {
			case api.FrameResize:
				wd, ht, _ := api.ParseResize(p)
				saw = append(saw, fmt.Sprintf("resize %dx%d", wd, ht))
			case api.FrameSignal:
				saw = append(saw, fmt.Sprintf("signal %d", p[0]))
			}
		}
		out(api.FrameStdout, []byte(fmt.Sprintf("start %dx%d tty=%v; %s", req.Width, req.Height, req.TTY, strings.Join(saw, "; "))))
		out(api.FrameExit, api.ExitPayload(0))
	case "fail":
		out(api.FrameError, []byte(`exec "nope" in zone "web1": no such file or directory`))
	case "drop":
		out(api.FrameStdout, []byte("partial"))
	case "hang":
		s.once.Do(func() { close(s.arrived) })
		_, _ = io.Copy(io.Discard, in) // until the client closes
	}
}

func execClient(t *testing.T) (*Client, *execServer) {
	s := &execServer{t: t, arrived: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/zones/{name}/exec", s)
	return serve(t, mux), s
}

func TestExecStreams(t *testing.T) {
	c, _ := execClient(t)
	var stdout, stderr bytes.Buffer
	code, err := c.Exec(context.Background(), "web1",
		api.ExecRequest{Command: []string{"upper"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"},
		ExecOptions{Stdin: strings.NewReader("hello zone\n"), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if stdout.String() != "HELLO ZONE\n" || stderr.String() != "A=1,B=2 in /srv" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestExecLargeStdin(t *testing.T) {
	c, _ := execClient(t)
	// More than one stdin frame and more than a socket buffer.
	in := strings.Repeat("abcdefgh", 100_000)
	var stdout bytes.Buffer
	code, err := c.Exec(context.Background(), "web1", api.ExecRequest{Command: []string{"upper"}},
		ExecOptions{Stdin: strings.NewReader(in), Stdout: &stdout})
	if err != nil || code != 3 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	if stdout.String() != strings.ToUpper(in) {
		t.Errorf("got %d bytes back, want %d", stdout.Len(), len(in))
	}
}

func TestExecNoStdinClosesInput(t *testing.T) {
	c, _ := execClient(t)
	var stdout bytes.Buffer
	// Without Stdin the server must see end of input at once, or "upper"
	// would wait forever.
	code, err := c.Exec(context.Background(), "web1", api.ExecRequest{Command: []string{"upper"}}, ExecOptions{Stdout: &stdout})
	if err != nil || code != 3 || stdout.Len() != 0 {
		t.Fatalf("Exec = %d, %v, stdout %q", code, err, stdout.String())
	}
}

func TestExecResizeAndSignal(t *testing.T) {
	c, _ := execClient(t)
	resize := make(chan [2]uint16, 1)
	sigs := make(chan syscall.Signal, 1)
	resize <- [2]uint16{120, 40}
	sigs <- syscall.SIGINT
	var stdout bytes.Buffer
	// An stdin that never ends, as a terminal: Exec must still return.
	pr, pw := io.Pipe()
	defer pw.Close()
	code, err := c.Exec(context.Background(), "web1", api.ExecRequest{Command: []string{"tty"}, TTY: true, Width: 80, Height: 24},
		ExecOptions{Stdin: pr, Stdout: &stdout, Resize: resize, Signals: sigs})
	if err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	got := stdout.String()
	for _, want := range []string{"start 80x24 tty=true", "resize 120x40", fmt.Sprintf("signal %d", syscall.SIGINT)} {
		if !strings.Contains(got, want) {
			t.Errorf("server report %q lacks %q", got, want)
		}
	}
}

func TestExecErrors(t *testing.T) {
	c, _ := execClient(t)
	ctx := context.Background()

	_, err := c.Exec(ctx, "stopped", api.ExecRequest{Command: []string{"true"}}, ExecOptions{})
	if !errors.Is(err, errdefs.ErrConflict) || err.Error() != `zone "stopped" is not running` {
		t.Errorf("exec in stopped zone: %v", err)
	}

	code, err := c.Exec(ctx, "web1", api.ExecRequest{Command: []string{"fail"}}, ExecOptions{})
	if err == nil || code != -1 || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("error frame: code %d, err %v", code, err)
	}

	var stdout bytes.Buffer
	code, err = c.Exec(ctx, "web1", api.ExecRequest{Command: []string{"drop"}}, ExecOptions{Stdout: &stdout})
	if err == nil || code != -1 || !strings.Contains(err.Error(), "before the command's exit status") {
		t.Errorf("dropped stream: code %d, err %v", code, err)
	}
	if stdout.String() != "partial" {
		t.Errorf("output before the drop was lost: %q", stdout.String())
	}
}

func TestExecCancel(t *testing.T) {
	c, s := execClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.arrived; cancel() }()
	code, err := c.Exec(ctx, "web1", api.ExecRequest{Command: []string{"hang"}}, ExecOptions{})
	if !errors.Is(err, context.Canceled) || code != -1 {
		t.Fatalf("Exec after cancel = %d, %v", code, err)
	}
}

func TestExecUnreachable(t *testing.T) {
	c := New(t.TempDir() + "/absent.sock")
	_, err := c.Exec(context.Background(), "web1", api.ExecRequest{Command: []string{"true"}}, ExecOptions{})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "is the daemon running?") {
		t.Fatalf("Exec on missing socket: %v", err)
	}
}
