//go:build linux

package manager

import (
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
)

// eventBuffer is how many events a subscriber may lag behind before it is
// dropped. Publishing never waits for a reader: a stuck control panel must
// not slow zone calls down.
const eventBuffer = 256

// eventHub fans events out to subscribers.
type eventHub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	log    func(msg string, args ...any)
}

// Subscription is one reader of events. Its channel is closed when the
// subscription ends; a subscriber dropped for being too slow finds an
// error event as the last one before the close.
type Subscription struct {
	hub    *eventHub
	filter api.EventFilter
	ch     chan api.Event
}

// C returns the subscription's events.
func (s *Subscription) C() <-chan api.Event { return s.ch }

// Close ends the subscription; its channel is closed.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func newEventHub() *eventHub {
	return &eventHub{subs: map[*Subscription]struct{}{}}
}

func (h *eventHub) subscribe(f api.EventFilter) *Subscription {
	// One slot more than the buffer: the error event of a dropped
	// subscriber always fits, so publishing never blocks.
	s := &Subscription{hub: h, filter: f, ch: make(chan api.Event, eventBuffer+1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.ch)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// publish delivers e to every subscriber whose filter takes it, dropping
// the ones whose buffer is full.
func (h *eventHub) publish(e api.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.filter.Match(e) {
			continue
		}
		if len(s.ch) >= eventBuffer {
			s.ch <- api.Event{Time: e.Time, Type: api.EventError, Message: "events: reader too slow, dropped"}
			close(s.ch)
			delete(h.subs, s)
			if h.log != nil {
				h.log("dropped slow events subscriber", "buffer", eventBuffer)
			}
			continue
		}
		s.ch <- e
	}
}

// close ends every subscription (daemon shutdown).
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.ch)
		delete(h.subs, s)
	}
}

// SubscribeEvents returns a subscription to the events that pass f. The
// caller reads it promptly and closes it when done.
func (m *Manager) SubscribeEvents(f api.EventFilter) *Subscription {
	return m.events.subscribe(f)
}

// emit publishes an event about a zone.
func (m *Manager) emit(typ, zone string, state api.ZoneState, msg string) {
	m.events.publish(api.Event{Type: typ, Zone: zone, State: string(state), Message: msg})
}
