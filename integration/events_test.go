//go:build linux

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zoned-project/zoned/api"
)

// nextEvent reads one event or fails when the stream ends first.
func nextEvent(t *testing.T, ch <-chan api.Event) api.Event {
	t.Helper()
	e, ok := <-ch
	if !ok {
		t.Fatal("event stream ended early")
	}
	return e
}

func TestEventsFollowZoneLifecycle(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	all, err := d.c.Events(ctx, api.EventFilter{Zone: "ev1"})
	if err != nil {
		t.Fatal(err)
	}
	startedOnly, err := d.c.Events(ctx, api.EventFilter{Types: []string{api.EventZoneStarted}})
	if err != nil {
		t.Fatal(err)
	}
	// Another zone's events must not reach the zone-filtered stream.
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "other", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	d.createStarted("ev1", api.Resources{})
	on := true
	if _, err := d.c.UpdateZone(ctx, "ev1", api.ZonePatch{Autostart: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.StopZone(ctx, "ev1", api.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := d.c.DestroyZone(ctx, "ev1", false); err != nil {
		t.Fatal(err)
	}
	want := []struct{ typ, state string }{
		{api.EventZoneCreated, "stopped"},
		{api.EventZoneStarted, "running"},
		{api.EventZoneUpdated, "running"},
		{api.EventZoneStopped, "stopped"},
		{api.EventZoneDestroyed, ""},
	}
	for i, w := range want {
		e := nextEvent(t, all)
		if e.Type != w.typ || e.Zone != "ev1" || e.State != w.state || e.Time.IsZero() {
			t.Fatalf("event %d = %+v, want type %s state %q for zone ev1", i, e, w.typ, w.state)
		}
	}
	if e := nextEvent(t, startedOnly); e.Type != api.EventZoneStarted || e.Zone != "ev1" {
		t.Fatalf("type-filtered stream gave %+v, want ev1's zone-started", e)
	}

	// A filter naming an unknown type is refused up front, naming it.
	resp, err := d.rawHTTP().Get("http://zoned/v1/events?type=zone-started,zone-exploded")
	if err != nil {
		t.Fatal(err)
	}
	var ae api.Error
	_ = json.NewDecoder(resp.Body).Decode(&ae)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || ae.Field != "type" || !strings.Contains(ae.Message, "zone-exploded") {
		t.Fatalf("bad type filter: status %d, error %+v", resp.StatusCode, ae)
	}
	_, stderr, code := d.zonectl("", "events", "--type", "nope")
	if code == 0 || !strings.Contains(stderr, `"nope"`) {
		t.Fatalf("zonectl events --type nope: exit %d, stderr %q", code, stderr)
	}

	// A daemon shutting down ends the streams instead of waiting on them.
	d.stop()
	for range all {
	}
	for range startedOnly {
	}
}

func TestEventsSlowReaderIsDroppedWithoutSlowingCalls(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "busy", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	// The stuck reader: it subscribes, reads the headers and then
	// nothing, with a small socket buffer so the daemon's side fills up.
	conn, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.UnixConn).SetReadBuffer(4096)
	if _, err := io.WriteString(conn, "GET /v1/events HTTP/1.1\r\nHost: zoned\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/events: %s", resp.Status)
	}
	// A reader that keeps up stays subscribed throughout.
	fast, err := d.c.Events(ctx, api.EventFilter{Zone: "after"})
	if err != nil {
		t.Fatal(err)
	}

	// Updates make events until the daemon gives up on the stuck reader;
	// each one must still complete.
	dropped := false
	for i := 0; i < 20000 && !dropped; i++ {
		v := i%2 == 0
		if _, err := d.c.UpdateZone(ctx, "busy", api.ZonePatch{Autostart: &v}); err != nil {
			t.Fatalf("update %d while a reader is stuck: %v", i, err)
		}
		if i%50 == 0 {
			dropped = strings.Contains(d.logs(), "dropped slow events subscriber")
		}
	}
	if !dropped {
		t.Fatal("the stuck events reader was never dropped")
	}
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "after", Template: "busybox"}); err != nil {
		t.Fatalf("create after the drop: %v", err)
	}
	if e := nextEvent(t, fast); e.Type != api.EventZoneCreated || e.Zone != "after" {
		t.Fatalf("reader that kept up got %+v, want zone-created of after", e)
	}

	// When the stuck reader finally reads, its stream ends with the error.
	var last api.Event
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the stuck stream: %v", err)
	}
	if last.Type != api.EventError || last.Message != "events: reader too slow, dropped" {
		t.Fatalf("last of %d events on the stuck stream = %+v, want the error event", n, last)
	}
	t.Logf("stuck reader got %d events before it was dropped", n)
}

// gauge reads one unlabelled figure of /metrics on a connection of its
// own that is closed after, so that reading adds no goroutine to count.
func (d *daemon) gauge(t *testing.T, name string) float64 {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
		}}}
	resp, err := hc.Get("http://zoned/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// openStream subscribes to every event on a connection of its own and
// returns it after the answer's headers; it reads nothing more unless
// the test does.
func (d *daemon) openStream(t *testing.T) (net.Conn, *http.Response) {
	t.Helper()
	conn, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET /v1/events HTTP/1.1\r\nHost: zoned\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, resp
}

// TestEventsUnreadStreamsAreClosedAndFreed opens streams that never read
// over the real socket and makes events: the daemon must drop each of
// them and close its connection, and its open streams and goroutines
// must come back to where they were. (Before, events sat in the socket
// buffers, the streams never looked behind, and a stream whose socket
// was full held its goroutines forever.)
func TestEventsUnreadStreamsAreClosedAndFreed(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "busy", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	baseline := d.gauge(t, "zoned_goroutines")
	const streams = 16
	var conns []net.Conn
	for range streams {
		conn, resp := d.openStream(t)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /v1/events: %s", resp.Status)
		}
		conns = append(conns, conn)
	}
	if n := d.gauge(t, "zoned_event_streams"); n != streams {
		t.Fatalf("zoned_event_streams = %v with %d open", n, streams)
	}
	// Enough events to fill what an unread stream may hold (its socket
	// buffer and the 256 the manager queues) several times over.
	for i := range 2000 {
		v := i%2 == 0
		if _, err := d.c.UpdateZone(ctx, "busy", api.ZonePatch{Autostart: &v}); err != nil {
			t.Fatalf("update %d while %d streams are unread: %v", i, streams, err)
		}
		if i%100 == 99 && strings.Count(d.logs(), "dropped slow events subscriber") >= streams {
			break
		}
	}
	waitFor(t, 3*time.Minute, "every unread stream closed (zoned_event_streams back to 0)", func() bool {
		return d.gauge(t, "zoned_event_streams") == 0
	})
	// The daemon hung up: reading what is left ends.
	for i, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Errorf("stream %d: the daemon did not close it: %v", i, err)
		}
	}
	waitFor(t, 3*time.Minute, fmt.Sprintf("goroutines back to the baseline of %v", baseline), func() bool {
		return d.gauge(t, "zoned_goroutines") <= baseline+2
	})
}

// TestEventStreamsAreCappedPerUID opens as many streams as one uid may:
// one more is refused with 429 too_many_event_streams, and one closed
// makes room again.
func TestEventStreamsAreCappedPerUID(t *testing.T) {
	d := startDaemon(t)
	var conns []net.Conn
	for i := range api.MaxEventStreamsPerUID {
		conn, resp := d.openStream(t)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d of %d: %s", i+1, api.MaxEventStreamsPerUID, resp.Status)
		}
		conns = append(conns, conn)
	}
	_, resp := d.openStream(t)
	var e api.Error
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusTooManyRequests || e.Code != "too_many_event_streams" || !strings.Contains(e.Message, "uid 0") {
		t.Fatalf("stream %d: %s %+v, want 429 too_many_event_streams", api.MaxEventStreamsPerUID+1, resp.Status, e)
	}
	conns[0].Close()
	waitFor(t, 3*time.Minute, "a closed stream is released", func() bool {
		return d.gauge(t, "zoned_event_streams") == api.MaxEventStreamsPerUID-1
	})
	if _, resp := d.openStream(t); resp.StatusCode != 200 {
		t.Fatalf("a stream after one closed: %s", resp.Status)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 3*time.Minute, "every stream released", func() bool { return d.gauge(t, "zoned_event_streams") <= 1 })
}
