//go:build linux

package server

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

var updateAPIDoc = flag.Bool("update", false, "rewrite the route list in api/doc.go from routeTable")

const (
	apiDocPath  = "../api/doc.go"
	apiDocBegin = "// Routes (generated from server/routes.go by `go generate ./server`; do not edit):\n//\n"
	apiDocEnd   = "//\n// End of routes.\n"
)

// apiDocRoutes renders routeTable as the route list of api's package
// comment: one line per route, its body types and its success status.
func apiDocRoutes() string {
	var b strings.Builder
	b.WriteString(apiDocBegin)
	for _, rt := range routeTable {
		var io []string
		if rt.in != nil {
			io = append(io, typeName(rt.in, rt.inType))
		}
		out := fmt.Sprint(rt.status)
		if rt.out != nil {
			out += " " + typeName(rt.out, rt.outType)
		}
		io = append(io, out)
		fmt.Fprintf(&b, "//\t%-6s %-44s %s\n", rt.method, rt.pattern, strings.Join(io, " -> "))
		summary := rt.summary
		if len(rt.query) > 0 {
			var names []string
			for _, q := range rt.query {
				names = append(names, q.name)
			}
			summary += "; query: " + strings.Join(names, ", ")
		}
		fmt.Fprintf(&b, "//\t%-6s %-44s   %s\n", "", "", summary)
	}
	b.WriteString(apiDocEnd)
	return b.String()
}

// typeName names a body's type as api's doc says it: the api type, or
// the media type of a body that is not JSON.
func typeName(v any, media string) string {
	if media != "" {
		return media
	}
	t := reflect.TypeOf(v)
	prefix := ""
	if t.Kind() == reflect.Slice {
		prefix, t = "[]", t.Elem()
	}
	if t.Kind() == reflect.Map {
		return "JSON"
	}
	return prefix + t.Name()
}

// TestAPIDocRoutes keeps api/doc.go's route list the route table's: a
// route added, removed or changed without `go generate ./server` fails
// here.
func TestAPIDocRoutes(t *testing.T) {
	data, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, apiDocBegin), strings.Index(doc, apiDocEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated route list (between %q and %q)", apiDocPath, apiDocBegin, apiDocEnd)
	}
	want := apiDocRoutes()
	if got := doc[i : j+len(apiDocEnd)]; got != want {
		if *updateAPIDoc {
			if err := os.WriteFile(apiDocPath, []byte(doc[:i]+want+doc[j+len(apiDocEnd):]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's route list differs from routeTable; run `go generate ./server`", apiDocPath)
	}
	for _, rt := range routeTable {
		if !strings.Contains(doc, " "+rt.pattern+" ") {
			t.Errorf("%s does not list %s %s", apiDocPath, rt.method, rt.pattern)
		}
	}
}
