//go:build linux

package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/manager"
)

// openAPI serves the OpenAPI 3 document of the API.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// openAPIDocument builds the OpenAPI 3 document from routeTable, with the
// schemas of the api types found by reflection over their JSON tags.
func openAPIDocument() []byte {
	g := &schemaGen{comps: map[string]any{}}
	errRef := g.schema(reflect.TypeOf(api.Error{}))
	paths := map[string]map[string]any{}
	for _, rt := range routeTable {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt),
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": map[string]any{"type": q.typ}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.in != nil {
			mt := rt.inType
			sch := map[string]any{"type": "string", "format": "binary"}
			if mt == "" {
				mt, sch = "application/json", g.schema(reflect.TypeOf(rt.in))
			}
			op["requestBody"] = map[string]any{"content": map[string]any{mt: map[string]any{"schema": sch}}}
		}
		ok := map[string]any{"description": http.StatusText(rt.status)}
		if rt.out != nil {
			mt := rt.outType
			if mt == "" {
				mt = "application/json"
			}
			sch := g.schema(reflect.TypeOf(rt.out))
			if mt == "text/plain" {
				sch = map[string]any{"type": "string"}
			}
			ok["content"] = map[string]any{mt: map[string]any{"schema": sch}}
		}
		errResp := func(desc string) any {
			return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		responses := map[string]any{
			itoa(rt.status): ok,
			"default":       errResp("an error"),
		}
		if rt.in != nil && rt.inType == "" {
			responses["415"] = errResp("unsupported_media_type: the body is not sent as application/json")
		}
		// The 4xx answers a generated client should expect by name.
		responses["400"] = errResp("invalid_argument: a value in the request is wrong (the answer's field names it)")
		responses["403"] = errResp("permission_denied: the HTTPS client's scope does not allow this call")
		if strings.Contains(rt.pattern, "{") {
			responses["404"] = errResp("not_found: the named object does not exist (or is outside the client's scope)")
		}
		if rt.method != "GET" {
			responses["409"] = errResp("already_exists or conflict: the object exists, or its state forbids the call")
			responses["507"] = errResp("insufficient_storage: a disk, its inodes or a quota is full")
		}
		if rt.outType == "application/x-ndjson" {
			responses["429"] = errResp("too_many_event_streams: this uid has the most streams open")
		}
		op["responses"] = responses
		if paths[rt.pattern] == nil {
			paths[rt.pattern] = map[string]any{}
		}
		paths[rt.pattern][strings.ToLower(rt.method)] = op
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "zoned API",
			"version":     manager.Version,
			"description": "zoned's REST API on its Unix socket (" + api.DefaultSocket + "), and over HTTPS with mutual TLS (zoned -https-address; a client certificate the daemon trusts, docs/remote-api.md).",
		},
		"servers": []any{
			map[string]any{"url": "https://{host}:{port}", "description": "zoned -https-address: TLS 1.3, trusted client certificates only",
				"variables": map[string]any{"host": map[string]any{"default": "localhost"}, "port": map[string]any{"default": "8443"}}},
			map[string]any{"url": "http://localhost", "description": "the Unix socket " + api.DefaultSocket + " (root and group zoned)"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.comps,
			"securitySchemes": map[string]any{
				"mutualTLS": map[string]any{"type": "mutualTLS", "description": "HTTPS: a client certificate the daemon trusts (zonectl trust, docs/remote-api.md); the Unix socket needs none, its file mode guards it"},
			},
		},
		"security": []any{map[string]any{"mutualTLS": []any{}}},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err) // only maps, strings and bools: cannot fail
	}
	return b
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// operationID names a route's operation as a verb, the way generated
// clients call it (createZone, not postZones): its handler's name, which
// already is one for most routes, or the name below for those whose
// handler is named for what it serves.
func operationID(rt route) string {
	name := runtime.FuncForPC(reflect.ValueOf(rt.handler).Pointer()).Name()
	name = name[strings.LastIndex(name, ".")+1:]
	if v, ok := operationVerbs[name]; ok {
		return v
	}
	return name
}

var operationVerbs = map[string]string{
	"info":         "getInfo",
	"exec":         "execInZone",
	"consoleLog":   "getConsoleLog",
	"hostShutdown": "shutdownHost",
	"events":       "streamEvents",
	"zoneStats":    "getZoneStats",
	"allStats":     "listZoneStats",
	"console":      "attachConsole",
	"diskUsage":    "getDiskUsage",
	"metrics":      "getMetrics",
	"openAPI":      "getOpenAPI",
	"listClients":  "listTrustedClients",
	"addClient":    "addTrustedClient",
	"getClient":    "getTrustedClient",
	"removeClient": "removeTrustedClient",
	"listTokens":   "listTrustTokens",
	"createToken":  "createTrustToken",
	"revokeToken":  "revokeTrustToken",
}

// schemaGen makes JSON schemas of Go types; named structs become
// components, which also ends recursion in self-referencing types.
type schemaGen struct{ comps map[string]any }

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		name := componentName(t)
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, done := g.comps[name]; done {
			return ref
		}
		obj := map[string]any{"type": "object"}
		g.comps[name] = obj // before the fields: a field may refer back
		props := map[string]any{}
		var required []string
		g.fields(t, props, &required)
		obj["properties"] = props
		if required != nil {
			obj["required"] = required
		}
		return ref
	}
	return map[string]any{} // interfaces: anything
}

// fields adds t's JSON fields to props; a field without omitempty is
// always sent, so it is required.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

// componentName is api's types by their own name, others qualified by
// their package name ("specs.Spec").
func componentName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeOf(api.Zone{}).PkgPath() {
		return t.Name()
	}
	return t.String()
}
