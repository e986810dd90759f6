package integration

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

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
