package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/zoned-project/zoned/api"
)

// ListNetworks returns every network.
func (c *Client) ListNetworks(ctx context.Context) ([]api.Network, error) {
	var out []api.Network
	return out, c.do(ctx, request{method: http.MethodGet, path: "/networks"}, &out)
}

// GetNetwork returns one network with the NICs on it.
func (c *Client) GetNetwork(ctx context.Context, name string) (*api.Network, error) {
	var out api.Network
	if err := c.do(ctx, request{method: http.MethodGet, path: "/networks/" + esc(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateNetwork creates a network and its host devices.
func (c *Client) CreateNetwork(ctx context.Context, req api.Network) (*api.Network, error) {
	var out api.Network
	if err := c.do(ctx, request{method: http.MethodPost, path: "/networks", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteNetwork removes a network no NIC uses.
func (c *Client) DeleteNetwork(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/networks/" + esc(name)}, nil)
}

// ListNICs returns a zone's NICs.
func (c *Client) ListNICs(ctx context.Context, zone string) ([]api.NIC, error) {
	var out []api.NIC
	return out, c.do(ctx, request{method: http.MethodGet, path: "/zones/" + esc(zone) + "/nics"}, &out)
}

// AddNIC gives a zone a NIC, live if it runs.
func (c *Client) AddNIC(ctx context.Context, zone string, req api.NICRequest) (*api.NIC, error) {
	var out api.NIC
	if err := c.do(ctx, request{method: http.MethodPost, path: "/zones/" + esc(zone) + "/nics", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetNIC changes a NIC's rate cap, live if the zone runs.
func (c *Client) SetNIC(ctx context.Context, zone, nic string, patch api.NICPatch) (*api.NIC, error) {
	var out api.NIC
	if err := c.do(ctx, request{method: http.MethodPatch, path: "/zones/" + esc(zone) + "/nics/" + esc(nic), in: patch}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveNIC takes a NIC from a zone, live if it runs.
func (c *Client) RemoveNIC(ctx context.Context, zone, nic string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/zones/" + esc(zone) + "/nics/" + esc(nic)}, nil)
}

// ListPortForwards returns a zone's port forwards.
func (c *Client) ListPortForwards(ctx context.Context, zone string) ([]api.PortForward, error) {
	var out []api.PortForward
	return out, c.do(ctx, request{method: http.MethodGet, path: "/zones/" + esc(zone) + "/port-forwards"}, &out)
}

// AddPortForward forwards a host port into a zone.
func (c *Client) AddPortForward(ctx context.Context, zone string, pf api.PortForward) (*api.PortForward, error) {
	var out api.PortForward
	if err := c.do(ctx, request{method: http.MethodPost, path: "/zones/" + esc(zone) + "/port-forwards", in: pf}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemovePortForward stops forwarding a host port ("" protocol is tcp).
func (c *Client) RemovePortForward(ctx context.Context, zone string, hostPort int, protocol string) error {
	q := url.Values{}
	if protocol != "" {
		q.Set("protocol", protocol)
	}
	return c.do(ctx, request{method: http.MethodDelete, path: "/zones/" + esc(zone) + "/port-forwards/" + strconv.Itoa(hostPort), query: q}, nil)
}
