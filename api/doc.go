// Package api holds the wire types of zoned's REST/JSON API, served on a Unix
// socket under the versioned prefix /v1. The JSON field names here are the
// contract with zonectl and with hosting providers' control panels: add
// fields, never rename or repurpose them.
//
// Routes (generated from server/routes.go by `go generate ./server`; do not edit):
//
//	GET    /v1/info                                     200 Info
//	                                                      Describe the daemon and its host
//	GET    /v1/zones                                    200 []Zone
//	                                                      List zones, sorted by name (X-Next-After names where the next page starts); query: state, template, limit, after, label
//	POST   /v1/zones                                    CreateZoneRequest -> 201 Zone
//	                                                      Create a stopped zone
//	GET    /v1/zones/{name}                             200 Zone
//	                                                      Get a zone with its spec; ETag is its revision
//	PATCH  /v1/zones/{name}                             ZonePatch -> 200 Zone
//	                                                      Change a zone's limits or autostart (If-Match: its ETag)
//	DELETE /v1/zones/{name}                             204
//	                                                      Destroy a zone; query: force
//	POST   /v1/zones/{name}/start                       200 Zone
//	                                                      Start a zone
//	POST   /v1/zones/{name}/stop                        StopRequest -> 200 Zone
//	                                                      Stop a zone
//	POST   /v1/zones/{name}/restart                     StopRequest -> 200 Zone
//	                                                      Restart a zone
//	POST   /v1/zones/{name}/exec                        ExecRequest -> 101
//	                                                      Run a command in a zone (then Upgrade: zoned-stream)
//	GET    /v1/zones/{name}/console-log                 200 text/plain
//	                                                      What the zone's init wrote to its console
//	GET    /v1/templates                                200 []Template
//	                                                      List templates
//	POST   /v1/templates                                CreateTemplateRequest -> 202 Operation
//	                                                      Build a template (an operation)
//	GET    /v1/templates/{name}                         200 Template
//	                                                      Get a template
//	PUT    /v1/templates/{name}                         application/octet-stream -> 201 Template
//	                                                      Import a template from a tar (gzip or zstd allowed)
//	DELETE /v1/templates/{name}                         204
//	                                                      Delete a template no zone uses
//	GET    /v1/operations/{id}                          200 Operation
//	                                                      Get an operation
//	GET    /v1/operations/{id}/wait                     200 Operation
//	                                                      Wait for an operation to end; query: timeout
//	POST   /v1/host/shutdown                            HostShutdownRequest -> 200 HostShutdownResult
//	                                                      Stop every running zone because the host goes down
//	GET    /v1/events                                   200 application/x-ndjson
//	                                                      Stream events as NDJSON; query: type, zone
//	GET    /v1/networks                                 200 []Network
//	                                                      List networks
//	POST   /v1/networks                                 Network -> 201 Network
//	                                                      Create a network (bridge, macvlan or vxlan)
//	GET    /v1/networks/{name}                          200 Network
//	                                                      Get a network and the NICs on it
//	DELETE /v1/networks/{name}                          204
//	                                                      Delete a network no NIC uses
//	GET    /v1/zones/{name}/nics                        200 []NIC
//	                                                      List a zone's NICs
//	POST   /v1/zones/{name}/nics                        NICRequest -> 201 NIC
//	                                                      Add a NIC (live on a running zone)
//	PATCH  /v1/zones/{name}/nics/{nic}                  NICPatch -> 200 NIC
//	                                                      Change a NIC's rate cap (live)
//	DELETE /v1/zones/{name}/nics/{nic}                  204
//	                                                      Remove a NIC (live on a running zone)
//	GET    /v1/zones/{name}/port-forwards               200 []PortForward
//	                                                      List a zone's port forwards
//	POST   /v1/zones/{name}/port-forwards               PortForward -> 201 PortForward
//	                                                      Forward a host port into the zone
//	DELETE /v1/zones/{name}/port-forwards/{port}        204
//	                                                      Stop forwarding a host port; query: protocol
//	GET    /v1/zones/{name}/stats                       200 ZoneStats
//	                                                      A running zone's usage and fail counters
//	GET    /v1/stats                                    200 []ZoneStats
//	                                                      Usage and fail counters of every running zone
//	GET    /v1/operations                               200 []Operation
//	                                                      List operations kept in the store, oldest first; query: status
//	DELETE /v1/operations/{id}                          202 Operation
//	                                                      Cancel a running operation; it undoes its work and ends as cancelled
//	POST   /v1/zones/{name}/console                     ConsoleRequest -> 101
//	                                                      Attach to a zone's console (then Upgrade: zoned-stream; CloseStdin detaches)
//	GET    /v1/storage/pools                            200 []Pool
//	                                                      List storage pools
//	POST   /v1/storage/pools                            CreatePoolRequest -> 201 Pool
//	                                                      Make a directory a storage pool
//	DELETE /v1/storage/pools/{name}                     204
//	                                                      Forget a storage pool no zone uses
//	GET    /v1/storage/df                               200 DiskUsage
//	                                                      Bytes on disk of templates and zones, and the saving against full copies
//	POST   /v1/zones/{name}/snapshots                   CreateSnapshotRequest -> 202 Operation
//	                                                      Snapshot a zone's own layer (an operation; a running zone is frozen for the moment)
//	GET    /v1/zones/{name}/snapshots                   200 []Snapshot
//	                                                      List a zone's snapshots
//	POST   /v1/zones/{name}/snapshots/{snap}/restore    202 Operation
//	                                                      Restore a stopped zone's layer from a snapshot (an operation)
//	DELETE /v1/zones/{name}/snapshots/{snap}            204
//	                                                      Delete a snapshot
//	POST   /v1/zones/{name}/clone                       CloneZoneRequest -> 201 Zone
//	                                                      Make a new stopped zone from a copy of this one's layer, with a new identity
//	POST   /v1/zones/{name}/export                      ExportZoneRequest -> 202 Operation
//	                                                      Write a zone to an archive on the daemon's host (an operation)
//	POST   /v1/zones/import                             ImportZoneRequest -> 202 Operation
//	                                                      Make a zone from an export archive on the daemon's host (an operation)
//	GET    /v1/trust/clients                            200 []TrustedClient
//	                                                      List the clients trusted on the HTTPS API
//	POST   /v1/trust/clients                            AddClientRequest -> 201 TrustedClient
//	                                                      Trust a client certificate given as PEM
//	GET    /v1/trust/clients/{client}                   200 TrustedClient
//	                                                      Get a trusted client
//	DELETE /v1/trust/clients/{client}                   204
//	                                                      Stop trusting a client and cut its open connections
//	GET    /v1/trust/tokens                             200 []TrustToken
//	                                                      List pending enrolment tokens (without their secrets)
//	POST   /v1/trust/tokens                             CreateTokenRequest -> 201 TrustToken
//	                                                      Make a one-time token that enrols a client
//	DELETE /v1/trust/tokens/{client}                    204
//	                                                      Revoke a pending token
//	GET    /metrics                                     200 text/plain
//	                                                      Prometheus metrics of zones and the daemon
//	GET    /v1/openapi.json                             200 JSON
//	                                                      This document
//
// End of routes.
//
// GET /v1/openapi.json describes the same routes with their bodies'
// schemas, as OpenAPI 3. Zones' GET answers carry an ETag ("<revision>")
// that PATCH takes as If-Match (else 412 precondition_failed); exec and
// console continue as a zoned-stream after 101 (stream.go); events are
// NDJSON (events.go).
//
// GET /metrics, outside /v1, is Prometheus text (zone usage, zones by
// state, goroutines, API requests by method and status).
//
// Every error answer is an Error with a stable Code. JSON bodies are sent
// with Content-Type: application/json (else 415 unsupported_media_type); a
// method a route path does not serve is a 405 with Allow; a full disk is a
// 507 insufficient_storage; event streams are bounded (MaxEventStreams).
package api
