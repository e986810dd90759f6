//go:build linux

package server

import (
	"strings"
	"testing"
)

// TestEveryRouteHasAccess: a route without an access class would be
// open to every tenant; one on a zone must name it {name}, which the
// scope check reads.
func TestEveryRouteHasAccess(t *testing.T) {
	for _, rt := range routeTable {
		switch {
		case rt.access == accessUnset:
			t.Errorf("%s %s has no access class (scope.go)", rt.method, rt.pattern)
		case rt.access == accessZone && !strings.HasPrefix(rt.pattern, "/v1/zones/{name}"):
			t.Errorf("%s %s is a zone route without /v1/zones/{name}", rt.method, rt.pattern)
		case rt.access == accessOperation && !strings.Contains(rt.pattern, "{id}"):
			t.Errorf("%s %s is an operation route without {id}", rt.method, rt.pattern)
		case strings.HasPrefix(rt.pattern, "/v1/trust") && rt.access != accessOperator:
			t.Errorf("%s %s manages trust but is not operator-only", rt.method, rt.pattern)
		case strings.HasPrefix(rt.pattern, "/v1/zones/{name}") && rt.access != accessZone && rt.access != accessHost:
			t.Errorf("%s %s names a zone but is neither a zone nor a host route", rt.method, rt.pattern)
		}
	}
}
