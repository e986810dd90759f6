//go:build linux

package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/api"
)

func testServer(log io.Writer) *Server {
	return New(nil, slog.New(slog.NewTextHandler(log, nil)), Options{})
}

func answer(t *testing.T, h http.Handler, r *http.Request) (*httptest.ResponseRecorder, api.Error) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var e api.Error
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	return rec, e
}

// TestRouteWordsAreReservedZoneNames: a literal word where routes take a
// zone's name must be one the manager refuses as a zone name.
func TestRouteWordsAreReservedZoneNames(t *testing.T) {
	for _, rt := range routeTable {
		rest, ok := strings.CutPrefix(rt.pattern, "/v1/zones/")
		if !ok {
			continue
		}
		word, _, _ := strings.Cut(rest, "/")
		if !strings.HasPrefix(word, "{") && !slices.Contains(api.ReservedZoneNames, word) {
			t.Errorf("route %s %s: %q is not in api.ReservedZoneNames", rt.method, rt.pattern, word)
		}
	}
}

func TestWrongMethodsAre405WithAllow(t *testing.T) {
	s := testServer(io.Discard)
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/zones/import", "POST"},
		{"PATCH", "/v1/zones/import", "POST"},
		{"DELETE", "/v1/zones/import", "POST"},
		{"POST", "/metrics", "GET"},
		{"DELETE", "/metrics", "GET"},
		{"PUT", "/v1/zones", "GET, POST"},
		{"POST", "/v1/zones/web1/stats", "GET"},
	} {
		rec, e := answer(t, s, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != 405 || e.Code != "method_not_allowed" || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: %d %q Allow %q, want 405 method_not_allowed Allow %q", c.method, c.path, rec.Code, e.Code, rec.Header().Get("Allow"), c.allow)
		}
	}
	// The metrics-only address too.
	rec, _ := answer(t, s.metricsMux(), httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET" {
		t.Errorf("POST /metrics on the metrics address: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestJSONBodiesNeedTheJSONType(t *testing.T) {
	var log bytes.Buffer
	s := testServer(&log)
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", "application/jsonx"} {
		r := httptest.NewRequest("POST", "/v1/zones", strings.NewReader(`{"name":"web1"}`))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec, e := answer(t, s, r)
		if rec.Code != http.StatusUnsupportedMediaType || e.Code != "unsupported_media_type" || !strings.Contains(e.Message, "application/json") {
			t.Errorf("Content-Type %q: %d %+v, want 415 unsupported_media_type", ct, rec.Code, e)
		}
	}
	if !strings.Contains(log.String(), "code=unsupported_media_type") {
		t.Errorf("the audit line lacks the 4xx code:\n%s", log.String())
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=UTF-8"} {
		r := httptest.NewRequest("POST", "/v1/zones", strings.NewReader(`{"name":"web1"}`))
		r.Header.Set("Content-Type", ct)
		var req api.CreateZoneRequest
		if err := decode(r, &req); err != nil || req.Name != "web1" {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}

// TestFailuresAreLoggedWithTheirMessage: a 500 (here a handler that
// panics on the nil manager) says why in the log, GET or not.
func TestFailuresAreLoggedWithTheirMessage(t *testing.T) {
	var log bytes.Buffer
	s := testServer(&log)
	rec, _ := answer(t, s, httptest.NewRequest("GET", "/v1/info", nil))
	if rec.Code != 500 {
		t.Fatalf("GET /v1/info on a nil manager: %d", rec.Code)
	}
	if !strings.Contains(log.String(), `msg=audit method=GET path=/v1/info status=500`) || !strings.Contains(log.String(), `error="internal error"`) {
		t.Errorf("no audit line with the error:\n%s", log.String())
	}
}
