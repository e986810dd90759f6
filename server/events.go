package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// events streams NDJSON events until the client goes away, the daemon
// shuts down (the request's context ends) or the manager drops a reader
// too slow to keep up (after the error event that says so).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := eventFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sub := s.m.SubscribeEvents(f)
	defer sub.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Headers go out now, so a client knows it is subscribed before the
	// first event.
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if err := enc.Encode(e); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
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
