package client

import (
	"context"
	"net/http"

	"github.com/zoned-project/zoned/api"
)

// ZoneStats returns a running zone's usage and fail counters.
func (c *Client) ZoneStats(ctx context.Context, name string) (*api.ZoneStats, error) {
	var out api.ZoneStats
	if err := c.do(ctx, request{method: http.MethodGet, path: "/zones/" + esc(name) + "/stats"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllStats returns the stats of every running zone in one call.
func (c *Client) AllStats(ctx context.Context) ([]api.ZoneStats, error) {
	var out []api.ZoneStats
	if err := c.do(ctx, request{method: http.MethodGet, path: "/stats"}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
