//go:build linux

package server

import (
	"fmt"
	"net/http"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

//go:generate go test -run ^TestAPIDocRoutes$ -update .

// route is one API route. The one table below both registers the mux's
// handlers and generates the OpenAPI document, so the two cannot drift.
type route struct {
	method, pattern string
	handler         func(*Server, http.ResponseWriter, *http.Request)
	summary         string
	// query names the query parameters the route reads.
	query []param
	// in is a zero value of the JSON body's type (nil: no JSON body);
	// inType overrides the body's media type (a tar upload).
	in     any
	inType string
	// status is the success status; out a zero value of its body's type
	// (nil: no body); outType overrides the media type of the answer.
	status  int
	out     any
	outType string
	// access is what the route touches, which a scoped client's scope
	// is checked against (scope.go).
	access access
}

// param is a query parameter.
type param struct{ name, typ, doc string }

var routeTable = []route{
	{method: "GET", pattern: "/v1/info", access: accessRead, handler: (*Server).info, summary: "Describe the daemon and its host", status: 200, out: api.Info{}},
	{method: "GET", pattern: "/v1/zones", access: accessZones, handler: (*Server).listZones, summary: "List zones, sorted by name (X-Next-After names where the next page starts)",
		query:  []param{{"state", "string", "only zones in this state"}, {"template", "string", "only zones of this template"}, {"limit", "integer", "at most this many zones (1..1000)"}, {"after", "string", "only zones named after this one"}, {"label", "string", "only zones with this label, as KEY=VALUE; repeat for all of several"}},
		status: 200, out: []api.Zone{}},
	{method: "POST", pattern: "/v1/zones", access: accessCreate, handler: (*Server).createZone, summary: "Create a stopped zone", in: api.CreateZoneRequest{}, status: 201, out: api.Zone{}},
	{method: "GET", pattern: "/v1/zones/{name}", access: accessZone, handler: (*Server).getZone, summary: "Get a zone with its spec; ETag is its revision", status: 200, out: api.Zone{}},
	{method: "PATCH", pattern: "/v1/zones/{name}", access: accessZone, handler: (*Server).updateZone, summary: "Change a zone's limits or autostart (If-Match: its ETag)", in: api.ZonePatch{}, status: 200, out: api.Zone{}},
	{method: "DELETE", pattern: "/v1/zones/{name}", access: accessZone, handler: (*Server).destroyZone, summary: "Destroy a zone", query: []param{{"force", "boolean", "kill a running zone first"}}, status: 204},
	{method: "POST", pattern: "/v1/zones/{name}/start", access: accessZone, handler: (*Server).startZone, summary: "Start a zone", status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/stop", access: accessZone, handler: (*Server).stopZone, summary: "Stop a zone", in: api.StopRequest{}, status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/restart", access: accessZone, handler: (*Server).restartZone, summary: "Restart a zone", in: api.StopRequest{}, status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/exec", access: accessZone, handler: (*Server).exec, summary: "Run a command in a zone (then Upgrade: zoned-stream)", in: api.ExecRequest{}, status: 101},
	{method: "GET", pattern: "/v1/zones/{name}/console-log", access: accessZone, handler: (*Server).consoleLog, summary: "What the zone's init wrote to its console", status: 200, out: "", outType: "text/plain"},
	{method: "GET", pattern: "/v1/templates", access: accessRead, handler: (*Server).listTemplates, summary: "List templates", status: 200, out: []api.Template{}},
	{method: "POST", pattern: "/v1/templates", access: accessHost, handler: (*Server).createTemplate, summary: "Build a template (an operation)", in: api.CreateTemplateRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/templates/{name}", access: accessRead, handler: (*Server).getTemplate, summary: "Get a template", status: 200, out: api.Template{}},
	{method: "PUT", pattern: "/v1/templates/{name}", access: accessHost, handler: (*Server).importTemplate, summary: "Import a template from a tar (gzip or zstd allowed)", in: "", inType: "application/octet-stream", status: 201, out: api.Template{}},
	{method: "DELETE", pattern: "/v1/templates/{name}", access: accessHost, handler: (*Server).deleteTemplate, summary: "Delete a template no zone uses", status: 204},
	{method: "GET", pattern: "/v1/operations/{id}", access: accessOperation, handler: (*Server).getOperation, summary: "Get an operation", status: 200, out: api.Operation{}},
	{method: "GET", pattern: "/v1/operations/{id}/wait", access: accessOperation, handler: (*Server).waitOperation, summary: "Wait for an operation to end", query: []param{{"timeout", "string", "how long to wait, like 30s (at most 5m)"}}, status: 200, out: api.Operation{}},
	{method: "POST", pattern: "/v1/host/shutdown", access: accessHost, handler: (*Server).hostShutdown, summary: "Stop every running zone because the host goes down", in: api.HostShutdownRequest{}, status: 200, out: api.HostShutdownResult{}},
	{method: "GET", pattern: "/v1/events", access: accessZones, handler: (*Server).events, summary: "Stream events as NDJSON",
		query: []param{{"type", "string", "comma-separated event types"}, {"zone", "string", "only events about this zone"}}, status: 200, out: api.Event{}, outType: "application/x-ndjson"},
	{method: "GET", pattern: "/v1/networks", access: accessHost, handler: (*Server).listNetworks, summary: "List networks", status: 200, out: []api.Network{}},
	{method: "POST", pattern: "/v1/networks", access: accessHost, handler: (*Server).createNetwork, summary: "Create a network (bridge, macvlan or vxlan)", in: api.Network{}, status: 201, out: api.Network{}},
	{method: "GET", pattern: "/v1/networks/{name}", access: accessHost, handler: (*Server).getNetwork, summary: "Get a network and the NICs on it", status: 200, out: api.Network{}},
	{method: "DELETE", pattern: "/v1/networks/{name}", access: accessHost, handler: (*Server).deleteNetwork, summary: "Delete a network no NIC uses", status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/nics", access: accessZone, handler: (*Server).listNICs, summary: "List a zone's NICs", status: 200, out: []api.NIC{}},
	{method: "POST", pattern: "/v1/zones/{name}/nics", access: accessZone, handler: (*Server).addNIC, summary: "Add a NIC (live on a running zone)", in: api.NICRequest{}, status: 201, out: api.NIC{}},
	{method: "PATCH", pattern: "/v1/zones/{name}/nics/{nic}", access: accessZone, handler: (*Server).setNIC, summary: "Change a NIC's rate cap (live)", in: api.NICPatch{}, status: 200, out: api.NIC{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/nics/{nic}", access: accessZone, handler: (*Server).removeNIC, summary: "Remove a NIC (live on a running zone)", status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/port-forwards", access: accessZone, handler: (*Server).listPortForwards, summary: "List a zone's port forwards", status: 200, out: []api.PortForward{}},
	{method: "POST", pattern: "/v1/zones/{name}/port-forwards", access: accessHost, handler: (*Server).addPortForward, summary: "Forward a host port into the zone", in: api.PortForward{}, status: 201, out: api.PortForward{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/port-forwards/{port}", access: accessHost, handler: (*Server).removePortForward, summary: "Stop forwarding a host port", query: []param{{"protocol", "string", "tcp (default) or udp"}}, status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/stats", access: accessZone, handler: (*Server).zoneStats, summary: "A running zone's usage and fail counters", status: 200, out: api.ZoneStats{}},
	{method: "GET", pattern: "/v1/stats", access: accessZones, handler: (*Server).allStats, summary: "Usage and fail counters of every running zone", status: 200, out: []api.ZoneStats{}},
	{method: "GET", pattern: "/v1/operations", access: accessZones, handler: (*Server).listOperations, summary: "List operations kept in the store, oldest first", query: []param{{"status", "string", "only operations with this status"}}, status: 200, out: []api.Operation{}},
	{method: "DELETE", pattern: "/v1/operations/{id}", access: accessOperation, handler: (*Server).cancelOperation, summary: "Cancel a running operation; it undoes its work and ends as cancelled", status: 202, out: api.Operation{}},
	{method: "POST", pattern: "/v1/zones/{name}/console", access: accessZone, handler: (*Server).console, summary: "Attach to a zone's console (then Upgrade: zoned-stream; CloseStdin detaches)", in: api.ConsoleRequest{}, status: 101},
	{method: "GET", pattern: "/v1/storage/pools", access: accessHost, handler: (*Server).listPools, summary: "List storage pools", status: 200, out: []api.Pool{}},
	{method: "POST", pattern: "/v1/storage/pools", access: accessHost, handler: (*Server).createPool, summary: "Make a directory a storage pool", in: api.CreatePoolRequest{}, status: 201, out: api.Pool{}},
	{method: "DELETE", pattern: "/v1/storage/pools/{name}", access: accessHost, handler: (*Server).deletePool, summary: "Forget a storage pool no zone uses", status: 204},
	{method: "GET", pattern: "/v1/storage/df", access: accessHost, handler: (*Server).diskUsage, summary: "Bytes on disk of templates and zones, and the saving against full copies", status: 200, out: api.DiskUsage{}},
	{method: "POST", pattern: "/v1/zones/{name}/snapshots", access: accessZone, handler: (*Server).createSnapshot, summary: "Snapshot a zone's own layer (an operation; a running zone is frozen for the moment)", in: api.CreateSnapshotRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/zones/{name}/snapshots", access: accessZone, handler: (*Server).listSnapshots, summary: "List a zone's snapshots", status: 200, out: []api.Snapshot{}},
	{method: "POST", pattern: "/v1/zones/{name}/snapshots/{snap}/restore", access: accessZone, handler: (*Server).restoreSnapshot, summary: "Restore a stopped zone's layer from a snapshot (an operation)", status: 202, out: api.Operation{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/snapshots/{snap}", access: accessZone, handler: (*Server).deleteSnapshot, summary: "Delete a snapshot", status: 204},
	{method: "POST", pattern: "/v1/zones/{name}/clone", access: accessZone, handler: (*Server).cloneZone, summary: "Make a new stopped zone from a copy of this one's layer, with a new identity", in: api.CloneZoneRequest{}, status: 201, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/export", access: accessHost, handler: (*Server).exportZone, summary: "Write a zone to an archive on the daemon's host (an operation)", in: api.ExportZoneRequest{}, status: 202, out: api.Operation{}},
	{method: "POST", pattern: "/v1/zones/import", access: accessHost, handler: (*Server).importZone, summary: "Make a zone from an export archive on the daemon's host (an operation)", in: api.ImportZoneRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/trust/clients", handler: (*Server).listClients, summary: "List the clients trusted on the HTTPS API", status: 200, out: []api.TrustedClient{}, access: accessOperator},
	{method: "POST", pattern: "/v1/trust/clients", handler: (*Server).addClient, summary: "Trust a client certificate given as PEM", in: api.AddClientRequest{}, status: 201, out: api.TrustedClient{}, access: accessOperator},
	{method: "GET", pattern: "/v1/trust/clients/{client}", handler: (*Server).getClient, summary: "Get a trusted client", status: 200, out: api.TrustedClient{}, access: accessOperator},
	{method: "DELETE", pattern: "/v1/trust/clients/{client}", handler: (*Server).removeClient, summary: "Stop trusting a client and cut its open connections", status: 204, access: accessOperator},
	{method: "GET", pattern: "/v1/trust/tokens", handler: (*Server).listTokens, summary: "List pending enrolment tokens (without their secrets)", status: 200, out: []api.TrustToken{}, access: accessOperator},
	{method: "POST", pattern: "/v1/trust/tokens", handler: (*Server).createToken, summary: "Make a one-time token that enrols a client", in: api.CreateTokenRequest{}, status: 201, out: api.TrustToken{}, access: accessOperator},
	{method: "DELETE", pattern: "/v1/trust/tokens/{client}", handler: (*Server).revokeToken, summary: "Revoke a pending token", status: 204, access: accessOperator},
	{method: "GET", pattern: "/metrics", access: accessZones, handler: (*Server).metrics, summary: "Prometheus metrics of zones and the daemon", status: 200, out: "", outType: "text/plain"},
	{method: "GET", pattern: "/v1/openapi.json", access: accessRead, handler: (*Server).openAPI, summary: "This document", status: 200, out: map[string]any{}},
}

func (s *Server) routes() {
	for i := range routeTable {
		rt := &routeTable[i]
		s.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := s.checkScope(rt, r); err != nil {
				writeError(w, err)
				return
			}
			rt.handler(s, w, r)
		})
		s.registered = append(s.registered, rt.method+" "+rt.pattern)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no route %s %s: %w", r.Method, r.URL.Path, errdefs.ErrNotFound))
	})
}
