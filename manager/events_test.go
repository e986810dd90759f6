//go:build linux

package manager

import (
	"testing"

	"github.com/zoned-project/zoned/api"
)

func TestEventHubFiltersAndDropsSlowReaders(t *testing.T) {
	h := newEventHub()
	slow := h.subscribe(api.EventFilter{})
	web := h.subscribe(api.EventFilter{Zone: "web", Types: []string{api.EventZoneStarted}})
	defer web.Close()
	for i := 0; i < eventBuffer+10; i++ {
		h.publish(api.Event{Type: api.EventZoneUpdated, Zone: "db"})
	}
	h.publish(api.Event{Type: api.EventZoneStarted, Zone: "web"})

	// web saw only its one event; the publisher never blocked on slow.
	if e := <-web.C(); e.Type != api.EventZoneStarted || e.Zone != "web" || e.Time.IsZero() {
		t.Fatalf("filtered subscriber got %+v", e)
	}
	select {
	case e := <-web.C():
		t.Fatalf("filtered subscriber got a second event %+v", e)
	default:
	}
	n := 0
	var last api.Event
	for e := range slow.C() {
		last = e
		n++
	}
	if n != eventBuffer+1 || last.Type != api.EventError || last.Message != "events: reader too slow, dropped" {
		t.Fatalf("slow subscriber got %d events ending with %+v", n, last)
	}
	slow.Close() // closing a dropped subscription is harmless

	h.close()
	if _, ok := <-web.C(); ok {
		t.Fatal("subscription open after the hub closed")
	}
	if _, ok := <-h.subscribe(api.EventFilter{}).C(); ok {
		t.Fatal("subscribing to a closed hub gave an open channel")
	}
}
