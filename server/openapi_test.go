//go:build linux

package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var regexpRefs = regexp.MustCompile(`"\$ref": "#/components/schemas/([^"]+)"`)

// TestOpenAPIMatchesMux fails when a route is served but not documented,
// or documented but not served.
func TestOpenAPIMatchesMux(t *testing.T) {
	s := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := append([]string(nil), s.registered...)
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("documented routes:\n%s\n\nserved routes:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	// Each documented route is what the mux picks for such a request.
	for _, rt := range documented {
		method, path, _ := strings.Cut(rt, " ")
		concrete := pathParam.ReplaceAllString(path, "x")
		r := httptest.NewRequest(method, concrete, nil)
		if _, pattern := s.mux.Handler(r); pattern != rt {
			t.Errorf("%s %s reaches mux pattern %q, not %q", method, concrete, pattern, rt)
		}
	}

	// Every reference resolves, and the schemas follow the JSON tags.
	for _, ref := range regexpRefs.FindAllStringSubmatch(rec.Body.String(), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok {
			t.Errorf("dangling $ref %s", ref[1])
		}
	}
	zone := doc.Components.Schemas["Zone"].Properties
	for _, f := range []string{"name", "state", "revision", "resources", "spec", "usage"} {
		if _, ok := zone[f]; !ok {
			t.Errorf("schema Zone lacks %q: %v", f, zone)
		}
	}
	if _, ok := doc.Components.Schemas["specs.Spec"]; !ok {
		t.Error("no schema specs.Spec for Zone.spec")
	}
	var patch map[string]json.RawMessage
	_ = json.Unmarshal(doc.Paths["/v1/zones/{name}"]["patch"], &patch)
	if !strings.Contains(string(patch["requestBody"]), "#/components/schemas/ZonePatch") {
		t.Errorf("PATCH /v1/zones/{name} request body: %s", patch["requestBody"])
	}
	// The edge's own answers are documented where they can happen.
	var responses map[string]json.RawMessage
	_ = json.Unmarshal(patch["responses"], &responses)
	for _, code := range []string{"415", "507"} {
		if _, ok := responses[code]; !ok {
			t.Errorf("PATCH /v1/zones/{name} does not document %s", code)
		}
	}
	var events map[string]json.RawMessage
	_ = json.Unmarshal(doc.Paths["/v1/events"]["get"], &events)
	if !strings.Contains(string(events["responses"]), `"429"`) {
		t.Errorf("GET /v1/events does not document 429: %s", events["responses"])
	}
}

// TestOperationIDsAreVerbs: generated clients name their methods after
// the operation IDs, so each is unique and reads as a verb.
func TestOperationIDsAreVerbs(t *testing.T) {
	verb := regexp.MustCompile(`^(list|get|create|update|destroy|delete|start|stop|restart|exec|attach|import|export|clone|restore|add|set|remove|cancel|wait|shutdown|stream|revoke)[A-Z]`)
	seen := map[string]string{}
	for _, rt := range routeTable {
		id := operationID(rt)
		if !verb.MatchString(id) {
			t.Errorf("%s %s: operation ID %q does not start with a verb", rt.method, rt.pattern, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("operation ID %q names both %s and %s %s", id, other, rt.method, rt.pattern)
		}
		seen[id] = rt.method + " " + rt.pattern
	}
}
