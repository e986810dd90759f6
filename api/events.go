package api

import "time"

// Event types of GET /v1/events.
const (
	EventZoneCreated       = "zone-created"
	EventZoneStarted       = "zone-started"
	EventZoneStopped       = "zone-stopped"
	EventZoneDestroyed     = "zone-destroyed"
	EventZoneUpdated       = "zone-updated"
	EventOperationProgress = "operation-progress"
	EventOperationDone     = "operation-done"
	// EventError ends a stream the daemon gave up on (a reader too slow
	// to keep up); it passes every filter.
	EventError = "error"
)

// Bounds on event streams (GET /v1/events): a daemon serves at most
// MaxEventStreams at once, at most MaxEventStreamsPerUID of them to the
// clients of one uid; one more is refused (503 unavailable, 429
// too_many_event_streams) rather than let unread streams pile up.
const (
	MaxEventStreams       = 512
	MaxEventStreamsPerUID = 128
)

// EventTypes lists the event types a filter may name.
var EventTypes = []string{
	EventZoneCreated, EventZoneStarted, EventZoneStopped, EventZoneDestroyed,
	EventZoneUpdated, EventOperationProgress, EventOperationDone, EventZoneOOM,
	EventZoneQuota, EventViewRestarted,
}

// Event is one line of the NDJSON stream of GET /v1/events: something that
// happened to a zone or an operation.
type Event struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// Zone is the zone the event is about (for operations: the target,
	// when it is a zone).
	Zone string `json:"zone,omitempty"`
	// Operation is the operation's ID for operation events.
	Operation string `json:"operation,omitempty"`
	Message   string `json:"message,omitempty"`
	// State is the zone's state after the event, or the operation's
	// status for operation events.
	State string `json:"state,omitempty"`
	// Progress is an operation's progress in percent.
	Progress int `json:"progress,omitempty"`
}

// EventFilter selects events: only the listed types (all when empty) and
// only events about Zone (all when empty).
type EventFilter struct {
	Types []string `json:"types,omitempty"`
	Zone  string   `json:"zone,omitempty"`
}

// Match reports whether e passes the filter. Error events always pass:
// they end the stream.
func (f EventFilter) Match(e Event) bool {
	if e.Type == EventError {
		return true
	}
	if f.Zone != "" && e.Zone != f.Zone {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == e.Type {
			return true
		}
	}
	return false
}
