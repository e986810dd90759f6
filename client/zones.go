package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/api"
)

// Info describes the daemon and its host.
func (c *Client) Info(ctx context.Context) (*api.Info, error) {
	var out api.Info
	if err := c.do(ctx, request{method: http.MethodGet, path: "/info"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListZones returns every zone, with usage figures for running ones.
func (c *Client) ListZones(ctx context.Context) ([]api.Zone, error) {
	var out []api.Zone
	if err := c.do(ctx, request{method: http.MethodGet, path: "/zones"}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetZone returns one zone, with its OCI spec.
func (c *Client) GetZone(ctx context.Context, name string) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodGet, "/zones/"+esc(name), nil)
}

// CreateZone creates a stopped zone from a template.
func (c *Client) CreateZone(ctx context.Context, req api.CreateZoneRequest) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodPost, "/zones", req)
}

// UpdateZone changes a zone's limits or autostart; the daemon applies new
// limits to a running zone at once.
func (c *Client) UpdateZone(ctx context.Context, name string, patch api.ZonePatch) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodPatch, "/zones/"+esc(name), patch)
}

// DestroyZone removes a zone and its root filesystem. A running zone is
// only destroyed with force, which kills it first.
func (c *Client) DestroyZone(ctx context.Context, name string, force bool) error {
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	return c.do(ctx, request{method: http.MethodDelete, path: "/zones/" + esc(name), query: q}, nil)
}

// StartZone boots a zone.
func (c *Client) StartZone(ctx context.Context, name string) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodPost, "/zones/"+esc(name)+"/start", nil)
}

// StopZone shuts a zone down: its init gets req.TimeoutSeconds to stop
// before the zone is killed, or it is killed at once with req.Force.
func (c *Client) StopZone(ctx context.Context, name string, req api.StopRequest) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodPost, "/zones/"+esc(name)+"/stop", req)
}

// RestartZone stops a zone as StopZone does and starts it again.
func (c *Client) RestartZone(ctx context.Context, name string, req api.StopRequest) (*api.Zone, error) {
	return c.zoneCall(ctx, http.MethodPost, "/zones/"+esc(name)+"/restart", req)
}

// ConsoleLog returns what the zone's init wrote to its console. The
// caller closes the reader.
func (c *Client) ConsoleLog(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/zones/" + esc(name) + "/console-log"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// zoneCall is a call that answers with one zone.
func (c *Client) zoneCall(ctx context.Context, method, path string, in any) (*api.Zone, error) {
	var out api.Zone
	if err := c.do(ctx, request{method: method, path: path, in: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// HostShutdown asks the daemon to stop every running zone gracefully
// because the host is going down (lower autostart priorities first). It
// returns once all are stopped; ctx should allow for the stop timeouts.
func (c *Client) HostShutdown(ctx context.Context, req api.HostShutdownRequest) (*api.HostShutdownResult, error) {
	var out api.HostShutdownResult
	if err := c.do(ctx, request{method: http.MethodPost, path: "/host/shutdown", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ZoneETag is the entity tag of z as GET /v1/zones/{name} sends it, for
// UpdateZoneIfMatch.
func ZoneETag(z *api.Zone) string {
	return `"` + strconv.FormatUint(z.Revision, 10) + `"`
}

// UpdateZoneIfMatch is UpdateZone that applies only while the zone is
// still at etag (from ZoneETag, or the ETag header of a GET): if it
// changed since, the call fails with an error that wraps
// errdefs.ErrPrecondition and nothing changes.
func (c *Client) UpdateZoneIfMatch(ctx context.Context, name, etag string, patch api.ZonePatch) (*api.Zone, error) {
	if !strings.HasPrefix(etag, `"`) && !strings.HasPrefix(etag, `W/`) && etag != "*" {
		etag = `"` + etag + `"`
	}
	var out api.Zone
	r := request{method: http.MethodPatch, path: "/zones/" + esc(name), in: patch, header: http.Header{"If-Match": {etag}}}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListZonesPage returns the zones that pass opts, sorted by name, and
// where the next page starts (opts.After for the next call; "" when this
// was the last page).
func (c *Client) ListZonesPage(ctx context.Context, opts api.ZoneListOptions) ([]api.Zone, string, error) {
	q := url.Values{}
	for k, v := range map[string]string{"state": string(opts.State), "template": opts.Template, "after": opts.After} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	for k, v := range opts.Labels {
		q.Add("label", k+"="+v)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/zones", query: q})
	if err != nil {
		return nil, "", err
	}
	defer closeBody(resp.Body)
	var out []api.Zone
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, "", fmt.Errorf("decode answer of GET /zones: %w", err)
	}
	return out, resp.Header.Get(api.NextAfterHeader), nil
}
