//go:build linux

package integration

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

func TestETagIfMatchRefusesLostUpdates(t *testing.T) {
	d := startDaemon(t)
	ctx := ctxT(t)
	if _, err := d.c.CreateZone(ctx, api.CreateZoneRequest{Name: "tagged", Template: "busybox"}); err != nil {
		t.Fatal(err)
	}
	resp, err := d.rawHTTP().Get("http://zoned/v1/zones/tagged")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	z, err := d.c.GetZone(ctx, "tagged")
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	if z.Revision == 0 || etag != `"`+strconv.FormatUint(z.Revision, 10)+`"` || client.ZoneETag(z) != etag {
		t.Fatalf("GET: ETag %q, revision %d", etag, z.Revision)
	}

	// Two panels read the zone; the first to write wins.
	on, off := true, false
	won, err := d.c.UpdateZoneIfMatch(ctx, "tagged", etag, api.ZonePatch{Autostart: &on})
	if err != nil {
		t.Fatalf("update with the current ETag: %v", err)
	}
	if won.Revision != z.Revision+1 || !won.Autostart {
		t.Fatalf("after update: revision %d (was %d), autostart %v", won.Revision, z.Revision, won.Autostart)
	}
	_, err = d.c.UpdateZoneIfMatch(ctx, "tagged", etag, api.ZonePatch{Autostart: &off})
	var ce *client.Error
	if !errors.Is(err, errdefs.ErrPrecondition) || !errors.As(err, &ce) || ce.StatusCode != http.StatusPreconditionFailed || ce.Code != "precondition_failed" {
		t.Fatalf("update with a stale ETag: %v (%+v)", err, ce)
	}
	now, err := d.c.GetZone(ctx, "tagged")
	if err != nil {
		t.Fatal(err)
	}
	if !now.Autostart || now.Revision != won.Revision {
		t.Fatalf("a refused update changed the zone: autostart %v revision %d", now.Autostart, now.Revision)
	}

	// A tag that is no revision fails the precondition; "*" and no
	// If-Match at all apply unconditionally.
	for _, c := range []struct {
		ifMatch string
		status  int
	}{
		{`"banana"`, http.StatusPreconditionFailed},
		{`*`, http.StatusOK},
		{``, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPatch, "http://zoned/v1/zones/tagged", strings.NewReader(`{"autostart":false}`))
		req.Header.Set("Content-Type", "application/json")
		if c.ifMatch != "" {
			req.Header.Set("If-Match", c.ifMatch)
		}
		resp, err := d.rawHTTP().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("PATCH with If-Match %q: %s, want %d", c.ifMatch, resp.Status, c.status)
		}
		if c.status == http.StatusOK && resp.Header.Get("ETag") == "" {
			t.Errorf("PATCH with If-Match %q: no ETag in the answer", c.ifMatch)
		}
	}
}
