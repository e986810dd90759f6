package client

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/zoned-project/zoned/api"
)

// Events subscribes to the daemon's events that pass filter. The channel
// is closed when ctx ends, the daemon ends the stream (at shutdown, or
// after an api.EventError event when the reader fell too far behind) or
// the connection breaks. Read it promptly: the daemon does not wait for
// slow readers.
func (c *Client) Events(ctx context.Context, filter api.EventFilter) (<-chan api.Event, error) {
	q := url.Values{}
	if len(filter.Types) > 0 {
		q.Set("type", strings.Join(filter.Types, ","))
	}
	if filter.Zone != "" {
		q.Set("zone", filter.Zone)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/events", query: q})
	if err != nil {
		return nil, err
	}
	ch := make(chan api.Event)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var e api.Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = api.Event{Type: api.EventError, Message: "events: undecodable line from zoned: " + err.Error()}
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
