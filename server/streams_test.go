//go:build linux

package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestStreamCaps(t *testing.T) {
	c := &streamCounts{max: 3, maxPerUID: 2}
	req := func(uid uint32) *http.Request {
		r := httptest.NewRequest("GET", "/v1/events", nil)
		return r.WithContext(context.WithValue(context.Background(), peerKey{}, Peer{UID: uid}))
	}
	r1, err := c.acquire(req(1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire(req(1000)); err != nil {
		t.Fatal(err)
	}
	_, err = c.acquire(req(1000))
	var ee *edgeError
	if !errors.As(err, &ee) || ee.status != http.StatusTooManyRequests || ee.code != "too_many_event_streams" {
		t.Fatalf("third stream of one uid: %v", err)
	}
	if _, err := c.acquire(req(0)); err != nil {
		t.Fatalf("another uid: %v", err)
	}
	if _, err := c.acquire(req(2000)); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("beyond the daemon's cap: %v, want unavailable", err)
	}
	r1()
	if _, err := c.acquire(req(2000)); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if c.open() != 3 {
		t.Errorf("open = %d, want 3", c.open())
	}
}
