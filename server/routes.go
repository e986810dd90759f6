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
	// operatorOnly routes need the socket or an HTTPS client without a
	// scope (the trust store itself).
	operatorOnly bool
}

// param is a query parameter.
type param struct{ name, typ, doc string }

var routeTable = []route{
	{method: "GET", pattern: "/v1/info", handler: (*Server).info, summary: "Describe the daemon and its host", status: 200, out: api.Info{}},
	{method: "GET", pattern: "/v1/zones", handler: (*Server).listZones, summary: "List zones, sorted by name (X-Next-After names where the next page starts)",
		query:  []param{{"state", "string", "only zones in this state"}, {"template", "string", "only zones of this template"}, {"limit", "integer", "at most this many zones (1..1000)"}, {"after", "string", "only zones named after this one"}, {"label", "string", "only zones with this label, as KEY=VALUE; repeat for all of several"}},
		status: 200, out: []api.Zone{}},
	{method: "POST", pattern: "/v1/zones", handler: (*Server).createZone, summary: "Create a stopped zone", in: api.CreateZoneRequest{}, status: 201, out: api.Zone{}},
	{method: "GET", pattern: "/v1/zones/{name}", handler: (*Server).getZone, summary: "Get a zone with its spec; ETag is its revision", status: 200, out: api.Zone{}},
	{method: "PATCH", pattern: "/v1/zones/{name}", handler: (*Server).updateZone, summary: "Change a zone's limits or autostart (If-Match: its ETag)", in: api.ZonePatch{}, status: 200, out: api.Zone{}},
	{method: "DELETE", pattern: "/v1/zones/{name}", handler: (*Server).destroyZone, summary: "Destroy a zone", query: []param{{"force", "boolean", "kill a running zone first"}}, status: 204},
	{method: "POST", pattern: "/v1/zones/{name}/start", handler: (*Server).startZone, summary: "Start a zone", status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/stop", handler: (*Server).stopZone, summary: "Stop a zone", in: api.StopRequest{}, status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/restart", handler: (*Server).restartZone, summary: "Restart a zone", in: api.StopRequest{}, status: 200, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/exec", handler: (*Server).exec, summary: "Run a command in a zone (then Upgrade: zoned-stream)", in: api.ExecRequest{}, status: 101},
	{method: "GET", pattern: "/v1/zones/{name}/console-log", handler: (*Server).consoleLog, summary: "What the zone's init wrote to its console", status: 200, out: "", outType: "text/plain"},
	{method: "GET", pattern: "/v1/templates", handler: (*Server).listTemplates, summary: "List templates", status: 200, out: []api.Template{}},
	{method: "POST", pattern: "/v1/templates", handler: (*Server).createTemplate, summary: "Build a template (an operation)", in: api.CreateTemplateRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/templates/{name}", handler: (*Server).getTemplate, summary: "Get a template", status: 200, out: api.Template{}},
	{method: "PUT", pattern: "/v1/templates/{name}", handler: (*Server).importTemplate, summary: "Import a template from a tar (gzip or zstd allowed)", in: "", inType: "application/octet-stream", status: 201, out: api.Template{}},
	{method: "DELETE", pattern: "/v1/templates/{name}", handler: (*Server).deleteTemplate, summary: "Delete a template no zone uses", status: 204},
	{method: "GET", pattern: "/v1/operations/{id}", handler: (*Server).getOperation, summary: "Get an operation", status: 200, out: api.Operation{}},
	{method: "GET", pattern: "/v1/operations/{id}/wait", handler: (*Server).waitOperation, summary: "Wait for an operation to end", query: []param{{"timeout", "string", "how long to wait, like 30s (at most 5m)"}}, status: 200, out: api.Operation{}},
	{method: "POST", pattern: "/v1/host/shutdown", handler: (*Server).hostShutdown, summary: "Stop every running zone because the host goes down", in: api.HostShutdownRequest{}, status: 200, out: api.HostShutdownResult{}},
	{method: "GET", pattern: "/v1/events", handler: (*Server).events, summary: "Stream events as NDJSON",
		query: []param{{"type", "string", "comma-separated event types"}, {"zone", "string", "only events about this zone"}}, status: 200, out: api.Event{}, outType: "application/x-ndjson"},
	{method: "GET", pattern: "/v1/networks", handler: (*Server).listNetworks, summary: "List networks", status: 200, out: []api.Network{}},
	{method: "POST", pattern: "/v1/networks", handler: (*Server).createNetwork, summary: "Create a network (bridge, macvlan or vxlan)", in: api.Network{}, status: 201, out: api.Network{}},
	{method: "GET", pattern: "/v1/networks/{name}", handler: (*Server).getNetwork, summary: "Get a network and the NICs on it", status: 200, out: api.Network{}},
	{method: "DELETE", pattern: "/v1/networks/{name}", handler: (*Server).deleteNetwork, summary: "Delete a network no NIC uses", status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/nics", handler: (*Server).listNICs, summary: "List a zone's NICs", status: 200, out: []api.NIC{}},
	{method: "POST", pattern: "/v1/zones/{name}/nics", handler: (*Server).addNIC, summary: "Add a NIC (live on a running zone)", in: api.NICRequest{}, status: 201, out: api.NIC{}},
	{method: "PATCH", pattern: "/v1/zones/{name}/nics/{nic}", handler: (*Server).setNIC, summary: "Change a NIC's rate cap (live)", in: api.NICPatch{}, status: 200, out: api.NIC{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/nics/{nic}", handler: (*Server).removeNIC, summary: "Remove a NIC (live on a running zone)", status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/port-forwards", handler: (*Server).listPortForwards, summary: "List a zone's port forwards", status: 200, out: []api.PortForward{}},
	{method: "POST", pattern: "/v1/zones/{name}/port-forwards", handler: (*Server).addPortForward, summary: "Forward a host port into the zone", in: api.PortForward{}, status: 201, out: api.PortForward{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/port-forwards/{port}", handler: (*Server).removePortForward, summary: "Stop forwarding a host port", query: []param{{"protocol", "string", "tcp (default) or udp"}}, status: 204},
	{method: "GET", pattern: "/v1/zones/{name}/stats", handler: (*Server).zoneStats, summary: "A running zone's usage and fail counters", status: 200, out: api.ZoneStats{}},
	{method: "GET", pattern: "/v1/stats", handler: (*Server).allStats, summary: "Usage and fail counters of every running zone", status: 200, out: []api.ZoneStats{}},
	{method: "GET", pattern: "/v1/operations", handler: (*Server).listOperations, summary: "List operations kept in the store, oldest first", query: []param{{"status", "string", "only operations with this status"}}, status: 200, out: []api.Operation{}},
	{method: "DELETE", pattern: "/v1/operations/{id}", handler: (*Server).cancelOperation, summary: "Cancel a running operation; it undoes its work and ends as cancelled", status: 202, out: api.Operation{}},
	{method: "POST", pattern: "/v1/zones/{name}/console", handler: (*Server).console, summary: "Attach to a zone's console (then Upgrade: zoned-stream; CloseStdin detaches)", in: api.ConsoleRequest{}, status: 101},
	{method: "GET", pattern: "/v1/storage/pools", handler: (*Server).listPools, summary: "List storage pools", status: 200, out: []api.Pool{}},
	{method: "POST", pattern: "/v1/storage/pools", handler: (*Server).createPool, summary: "Make a directory a storage pool", in: api.CreatePoolRequest{}, status: 201, out: api.Pool{}},
	{method: "DELETE", pattern: "/v1/storage/pools/{name}", handler: (*Server).deletePool, summary: "Forget a storage pool no zone uses", status: 204},
	{method: "GET", pattern: "/v1/storage/df", handler: (*Server).diskUsage, summary: "Bytes on disk of templates and zones, and the saving against full copies", status: 200, out: api.DiskUsage{}},
	{method: "POST", pattern: "/v1/zones/{name}/snapshots", handler: (*Server).createSnapshot, summary: "Snapshot a zone's own layer (an operation; a running zone is frozen for the moment)", in: api.CreateSnapshotRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/zones/{name}/snapshots", handler: (*Server).listSnapshots, summary: "List a zone's snapshots", status: 200, out: []api.Snapshot{}},
	{method: "POST", pattern: "/v1/zones/{name}/snapshots/{snap}/restore", handler: (*Server).restoreSnapshot, summary: "Restore a stopped zone's layer from a snapshot (an operation)", status: 202, out: api.Operation{}},
	{method: "DELETE", pattern: "/v1/zones/{name}/snapshots/{snap}", handler: (*Server).deleteSnapshot, summary: "Delete a snapshot", status: 204},
	{method: "POST", pattern: "/v1/zones/{name}/clone", handler: (*Server).cloneZone, summary: "Make a new stopped zone from a copy of this one's layer, with a new identity", in: api.CloneZoneRequest{}, status: 201, out: api.Zone{}},
	{method: "POST", pattern: "/v1/zones/{name}/export", handler: (*Server).exportZone, summary: "Write a zone to an archive on the daemon's host (an operation)", in: api.ExportZoneRequest{}, status: 202, out: api.Operation{}},
	{method: "POST", pattern: "/v1/zones/import", handler: (*Server).importZone, summary: "Make a zone from an export archive on the daemon's host (an operation)", in: api.ImportZoneRequest{}, status: 202, out: api.Operation{}},
	{method: "GET", pattern: "/v1/trust/clients", handler: (*Server).listClients, summary: "List the clients trusted on the HTTPS API", status: 200, out: []api.TrustedClient{}, operatorOnly: true},
	{method: "POST", pattern: "/v1/trust/clients", handler: (*Server).addClient, summary: "Trust a client certificate given as PEM", in: api.AddClientRequest{}, status: 201, out: api.TrustedClient{}, operatorOnly: true},
	{method: "GET", pattern: "/v1/trust/clients/{client}", handler: (*Server).getClient, summary: "Get a trusted client", status: 200, out: api.TrustedClient{}, operatorOnly: true},
	{method: "DELETE", pattern: "/v1/trust/clients/{client}", handler: (*Server).removeClient, summary: "Stop trusting a client and cut its open connections", status: 204, operatorOnly: true},
	{method: "GET", pattern: "/v1/trust/tokens", handler: (*Server).listTokens, summary: "List pending enrolment tokens (without their secrets)", status: 200, out: []api.TrustToken{}, operatorOnly: true},
	{method: "POST", pattern: "/v1/trust/tokens", handler: (*Server).createToken, summary: "Make a one-time token that enrols a client", in: api.CreateTokenRequest{}, status: 201, out: api.TrustToken{}, operatorOnly: true},
	{method: "DELETE", pattern: "/v1/trust/tokens/{client}", handler: (*Server).revokeToken, summary: "Revoke a pending token", status: 204, operatorOnly: true},
	{method: "GET", pattern: "/metrics", handler: (*Server).metrics, summary: "Prometheus metrics of zones and the daemon", status: 200, out: "", outType: "text/plain"},
	{method: "GET", pattern: "/v1/openapi.json", handler: (*Server).openAPI, summary: "This document", status: 200, out: map[string]any{}},
}

func (s *Server) routes() {
	s.byPattern = map[string]*route{}
	for i := range routeTable {
		rt := &routeTable[i]
		s.byPattern[rt.method+" "+rt.pattern] = rt
		h := rt.handler
		s.mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
		s.registered = append(s.registered, rt.method+" "+rt.pattern)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no route %s %s: %w", r.Method, r.URL.Path, errdefs.ErrNotFound))
	})
}
