//go:build linux

package integration

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// rawConn opens a connection to the daemon's socket and writes s on it.
func (d *daemon) rawConn(t *testing.T, s string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStalledClientsHoldNoZone: clients that stop half way — in the
// headers, in a PATCH body, in an exec session, on an attached console
// they never read — do not keep the zone from being changed and stopped;
// a header block past the bound is refused.
func TestStalledClientsHoldNoZone(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	name := "st" + randomSuffix()
	d.createStarted(name, api.Resources{})

	// A PATCH whose body never comes.
	d.rawConn(t, "PATCH /v1/zones/"+name+" HTTP/1.1\r\nHost: zoned\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"resources\":")
	// Headers that never end: the daemon hangs up (ReadHeaderTimeout).
	slowloris := d.rawConn(t, "GET /v1/zones HTTP/1.1\r\nHost: zoned\r\nX-Slow: ")
	// An exec session whose client sends nothing and reads nothing.
	execDone := make(chan error, 1)
	stdinR, stdinW := io.Pipe()
	defer stdinW.Close()
	go func() {
		_, err := d.c.Exec(ctx, name, api.ExecRequest{Command: []string{"cat"}}, client.ExecOptions{Stdin: stdinR})
		execDone <- err
	}()
	// A console client that never reads what the console writes.
	console := d.rawConn(t, "POST /v1/zones/"+name+"/console HTTP/1.1\r\nHost: zoned\r\nConnection: Upgrade\r\nUpgrade: zoned-stream\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(console)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("console upgrade: %v %v", resp, err)
	}
	waitFor(t, time.Minute, "the exec session to run", func() bool {
		return strings.Contains(d.mustExec(name, "ps"), "cat")
	})

	// The zone can still be changed and stopped.
	pids := int64(300)
	if _, err := d.c.UpdateZone(ctx, name, api.ZonePatch{Resources: &api.ResourcesPatch{PidsMax: &pids}}); err != nil {
		t.Fatalf("update while clients stall: %v", err)
	}
	if z, err := d.c.StopZone(ctx, name, api.StopRequest{TimeoutSeconds: 10}); err != nil || z.State != api.StateStopped {
		t.Fatalf("stop while clients stall: %+v %v", z, err)
	}
	// Stopping the zone ended the exec session (with an error or cat's
	// exit status; either way it returned).
	select {
	case <-execDone:
	case <-time.After(2 * time.Minute):
		t.Error("the exec session outlived its zone")
	}

	// The daemon hangs up on the client stuck in its headers.
	_ = slowloris.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.ReadAll(slowloris); err != nil {
		t.Errorf("stalled headers: the daemon kept the connection: %v", err)
	}

	// Headers past the bound (64 KiB) are refused, not buffered.
	big := d.rawConn(t, "GET /v1/info HTTP/1.1\r\nHost: zoned\r\nX-Big: "+strings.Repeat("a", 200<<10)+"\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(big), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KiB of headers: %v %v, want 431", resp, err)
	}
}
