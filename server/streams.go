//go:build linux

package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// eventWriteTimeout bounds one event's write to a stream: a client that
// stops reading fills its socket, and its next write then fails here
// instead of holding the stream (its goroutines, its subscription, the
// events queued for it) for as long as the client lives.
const eventWriteTimeout = 30 * time.Second

// eventSendBuffer is the socket send buffer of an event stream. On a Unix
// socket what the client has not read stays charged to the sender, so the
// default (some 200 KiB, a thousand events) would let an unread stream
// hold that much and look "not behind" to the manager's queue; a small
// buffer makes the documented drop after api's 256 queued events real.
// It is ample for a reader that reads: events are a few hundred bytes.
const eventSendBuffer = 16 << 10

type connKey struct{}

// withConn is the http.Server's ConnContext: it keeps the connection (so
// a stream can bound its socket buffer) and the peer's credentials.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return withPeer(context.WithValue(ctx, connKey{}, c), c)
}

// shrinkSendBuffer sets the send buffer of r's connection when it is a
// Unix socket (TCP tunes its own and serves no events here).
func shrinkSendBuffer(r *http.Request) {
	if uc, ok := r.Context().Value(connKey{}).(*net.UnixConn); ok {
		_ = uc.SetWriteBuffer(eventSendBuffer)
	}
}

// streamCounts counts open event streams, in all and per client uid.
type streamCounts struct {
	mu    sync.Mutex
	total int
	byUID map[uint32]int
	// max and maxPerUID default to api's bounds (tests lower them).
	max, maxPerUID int
}

// acquire counts a new stream of r's client or says why it is refused;
// release undoes it.
func (c *streamCounts) acquire(r *http.Request) (release func(), err error) {
	p, known := peerFrom(r.Context())
	c.mu.Lock()
	defer c.mu.Unlock()
	max, perUID := c.max, c.maxPerUID
	if max == 0 {
		max, perUID = api.MaxEventStreams, api.MaxEventStreamsPerUID
	}
	if c.total >= max {
		return nil, fmt.Errorf("the daemon serves %d event streams already, its limit; close one or retry later: %w", c.total, errdefs.ErrUnavailable)
	}
	if known && c.byUID[p.UID] >= perUID {
		return nil, &edgeError{http.StatusTooManyRequests, "too_many_event_streams",
			fmt.Sprintf("uid %d has %d event streams open, the most one uid may; close one first (one stream with a filter can follow many zones)", p.UID, c.byUID[p.UID])}
	}
	if c.byUID == nil {
		c.byUID = map[uint32]int{}
	}
	c.total++
	if known {
		c.byUID[p.UID]++
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.total--
		if known {
			if c.byUID[p.UID]--; c.byUID[p.UID] == 0 {
				delete(c.byUID, p.UID)
			}
		}
	}, nil
}

// open is how many event streams are open, for /metrics.
func (c *streamCounts) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
