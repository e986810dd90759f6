//go:build linux

package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// events streams NDJSON events until the client goes away, the daemon
// shuts down (the request's context ends), the manager drops a reader
// too slow to keep up (after the error event that says so) or a write
// does not finish within eventWriteTimeout (a client that stopped
// reading). Streams are counted and bounded (streams.go).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := eventFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	release, err := s.streams.acquire(r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	shrinkSendBuffer(r)
	sub := s.m.SubscribeEvents(f)
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	// The connection ends with the stream: the write deadline set last
	// still bounds the answer's final chunk after the handler returns (a
	// reader that stopped just then), and no later call inherits it.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	defer writeEvent(rc, nil)
	// Headers go out now, so a client knows it is subscribed before the
	// first event.
	if !writeEvent(rc, nil) {
		return
	}
	enc := json.NewEncoder(w)
	visible := s.eventScope(r.Context())
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if !visible(e) {
				continue
			}
			if !writeEvent(rc, func() error { return enc.Encode(e) }) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// writeEvent runs enc (when not nil) and flushes, within
// eventWriteTimeout; false means the stream is over.
func writeEvent(rc *http.ResponseController, enc func() error) bool {
	if err := rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return false
	}
	if enc != nil {
		if err := enc(); err != nil {
			return false
		}
	}
	return rc.Flush() == nil
}

// eventFilter reads ?type=a,b&zone=name.
func eventFilter(r *http.Request) (api.EventFilter, error) {
	var f api.EventFilter
	q := r.URL.Query()
	for _, v := range q["type"] {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if !slices.Contains(api.EventTypes, t) {
				return f, errdefs.WithField("type", fmt.Errorf("query type=%q is not an event type (known: %s): %w", t, strings.Join(api.EventTypes, ", "), errdefs.ErrInvalid))
			}
			f.Types = append(f.Types, t)
		}
	}
	if z := q.Get("zone"); z != "" {
		if err := validate.Name("zone", z); err != nil {
			return f, errdefs.WithField("zone", err)
		}
		f.Zone = z
	}
	return f, nil
}
