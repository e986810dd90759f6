//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

// syncBuffer collects a console's output for several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// typeUntil types line on the console until want shows in out: the
// busybox console shell starts only after Enter, so early lines may land
// before anything reads them.
func typeUntil(t *testing.T, w io.Writer, line, want string, out *syncBuffer) {
	t.Helper()
	last := time.Time{}
	waitFor(t, time.Minute, "console to answer "+want, func() bool {
		if strings.Contains(out.String(), want) {
			return true
		}
		if time.Since(last) > time.Second {
			last = time.Now()
			if _, err := io.WriteString(w, line); err != nil {
				t.Fatal(err)
			}
		}
		return false
	})
}

// TestConsoleAttach types into a busybox zone's console shell and reads the
// answer, with a second client watching the same output, resizes the
// console, detaches with Ctrl-], and finds the zone still running.
func TestConsoleAttach(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	name := "con" + randomSuffix()
	d.createStarted(name, api.Resources{})

	inR, inW := io.Pipe()
	defer inW.Close()
	var out, watched syncBuffer
	done := make(chan error, 1)
	go func() { done <- d.c.Console(ctx, name, client.ConsoleOptions{Stdin: inR, Stdout: &out}) }()
	// A second, read-only client sees the same output.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan error, 1)
	go func() { watchDone <- d.c.Console(wctx, name, client.ConsoleOptions{Stdout: &watched}) }()

	io.WriteString(inW, "\n") // busybox init's askfirst: Enter activates the shell
	// $((6*7)) so the echo of what was typed cannot match the answer.
	typeUntil(t, inW, "echo con$((6*7))sole\n", "con42sole", &out)
	waitFor(t, time.Minute, "the second client to see the answer", func() bool { return strings.Contains(watched.String(), "con42sole") })

	// Detach with Ctrl-]: Console returns nil, the zone runs on.
	if _, err := inW.Write([]byte{api.ConsoleDetachKey}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("detach: %v", err)
	}
	if z, err := d.c.GetZone(ctx, name); err != nil || z.State != api.StateRunning {
		t.Fatalf("zone after detach: %+v %v", z, err)
	}
	if got := d.mustExec(name, "echo", "alive"); got != "alive\n" {
		t.Errorf("exec after detach: %q", got)
	}

	// A pipe that ends detaches too (exit 0); a stopped zone has no console.
	if _, stderr, code := d.zonectl("", "console", name); code != 0 {
		t.Errorf("zonectl console with empty input: exit %d: %s", code, stderr)
	}

	// Stopping the zone ends the watcher's session with an error.
	if _, err := d.c.StopZone(ctx, name, api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := <-watchDone; err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("watcher when the zone stopped: %v", err)
	}
	if err := d.c.Console(ctx, name, client.ConsoleOptions{}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("console of a stopped zone: %v, want conflict", err)
	}
	if _, stderr, code := d.zonectl("", "console", name); code == 0 || !strings.Contains(stderr, "not running") {
		t.Errorf("zonectl console of a stopped zone: exit %d: %s", code, stderr)
	}
}

// TestConsoleResize: a size sent over the stream reaches the console.
func TestConsoleResize(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	name := "cr" + randomSuffix()
	d.createStarted(name, api.Resources{})
	inR, inW := io.Pipe()
	defer inW.Close()
	var out syncBuffer
	resize := make(chan [2]uint16, 1)
	done := make(chan error, 1)
	go func() {
		done <- d.c.Console(ctx, name, client.ConsoleOptions{Stdin: inR, Stdout: &out, Width: 90, Height: 20, Resize: resize})
	}()
	io.WriteString(inW, "\n")
	typeUntil(t, inW, "stty size | sed s/^/size:/\n", "size:20 90", &out)
	resize <- [2]uint16{132, 43}
	typeUntil(t, inW, "stty size | sed s/^/size:/\n", "size:43 132", &out)
	inW.Close() // end of input detaches
	if err := <-done; err != nil {
		t.Fatalf("detach at end of input: %v", err)
	}
}

// TestZonectlConsoleOnATerminal runs zonectl console on a real terminal
// (a PTY, as a person's shell would give it): the local terminal goes raw,
// a typed line reaches the zone's console shell and its answer comes
// back, and Ctrl-] detaches with exit status 0.
func TestZonectlConsoleOnATerminal(t *testing.T) {
	d := startDaemon(t)
	name := "ct" + randomSuffix()
	d.createStarted(name, api.Resources{})
	cmd := exec.Command(zonectlBin, "--socket", d.socket, "console", name)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out syncBuffer
	go func() { _, _ = io.Copy(&out, tty) }()
	waitFor(t, time.Minute, "zonectl to say how to detach", func() bool { return strings.Contains(out.String(), "Detach with Ctrl-]") })
	io.WriteString(tty, "\r")
	typeUntil(t, tty, "echo term$((6*7))inal; stty size\r", "term42inal", &out)
	waitFor(t, time.Minute, "the console's size to follow the terminal", func() bool { return strings.Contains(out.String(), "30 100") })
	if _, err := tty.Write([]byte{api.ConsoleDetachKey}); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("zonectl console after Ctrl-]: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("zonectl console did not detach on Ctrl-]:\n%s", out.String())
	}
	if z, err := d.c.GetZone(ctxT(t), name); err != nil || z.State != api.StateRunning {
		t.Errorf("zone after detach: %+v %v", z, err)
	}
}
