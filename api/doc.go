// Package api holds the wire types of zoned's REST/JSON API, served on a Unix
// socket under the versioned prefix /v1. The JSON field names here are the
// contract with zonectl and with hosting providers' control panels: add
// fields, never rename or repurpose them.
//
// Routes (all under /v1):
//
//	GET    /v1/info                          Info
//	GET    /v1/zones                         []Zone (with Usage for running zones), sorted by name;
//	       ?state=&template=&limit=N&after=name  filters and pages (see ZoneListOptions)
//	POST   /v1/zones                         CreateZoneRequest -> 201 Zone
//	GET    /v1/zones/{name}                  Zone (with Spec); ETag: "<revision>"
//	PATCH  /v1/zones/{name}                  ZonePatch -> Zone (applied live when running);
//	                                         If-Match: "<revision>" or 412 precondition_failed
//	DELETE /v1/zones/{name}?force=true       204
//	POST   /v1/zones/{name}/start            Zone
//	POST   /v1/zones/{name}/stop             StopRequest -> Zone
//	POST   /v1/zones/{name}/restart          StopRequest -> Zone
//	POST   /v1/zones/{name}/exec             ExecRequest, then Upgrade: zoned-stream (see stream.go)
//	GET    /v1/zones/{name}/console-log      text/plain
//	GET    /v1/templates                     []Template
//	POST   /v1/templates                     CreateTemplateRequest -> 202 Operation
//	PUT    /v1/templates/{name}              tar (optionally gzip or zstd) body -> 201 Template
//	GET    /v1/templates/{name}              Template
//	DELETE /v1/templates/{name}              204
//	GET    /v1/operations/{id}               Operation
//	GET    /v1/operations/{id}/wait?timeout=30s  Operation (when done or at timeout)
//	POST   /v1/host/shutdown                 HostShutdownRequest -> HostShutdownResult
//	GET    /v1/events?type=a,b&zone=name     NDJSON stream of Event (see events.go)
//	GET    /v1/openapi.json                  OpenAPI 3 document of these routes
//
// Outside /v1: GET /metrics, Prometheus text (zone usage, zones by state,
// goroutines, API requests by method and status).
//
// Every error answer is an Error with a stable Code. JSON bodies are sent
// with Content-Type: application/json (else 415 unsupported_media_type); a
// method a route path does not serve is a 405 with Allow; a full disk is a
// 507 insufficient_storage; event streams are bounded (MaxEventStreams).
package api
