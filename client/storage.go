package client

import (
	"context"
	"net/http"

	"github.com/zoned-project/zoned/api"
)

// ListPools returns the storage pools, the default one first.
func (c *Client) ListPools(ctx context.Context) ([]api.Pool, error) {
	var out []api.Pool
	if err := c.do(ctx, request{method: http.MethodGet, path: "/storage/pools"}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CreatePool makes a directory a storage pool.
func (c *Client) CreatePool(ctx context.Context, req api.CreatePoolRequest) (*api.Pool, error) {
	var out api.Pool
	if err := c.do(ctx, request{method: http.MethodPost, path: "/storage/pools", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeletePool forgets a storage pool no zone uses.
func (c *Client) DeletePool(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/storage/pools/" + esc(name)}, nil)
}

// DiskUsage returns what templates and zones take on disk.
func (c *Client) DiskUsage(ctx context.Context) (*api.DiskUsage, error) {
	var out api.DiskUsage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/storage/df"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateSnapshot starts snapshotting a zone's own layer; follow the
// operation with WaitOperation.
func (c *Client) CreateSnapshot(ctx context.Context, zone, name string) (*api.Operation, error) {
	var out api.Operation
	req := request{method: http.MethodPost, path: "/zones/" + esc(zone) + "/snapshots", in: api.CreateSnapshotRequest{Name: name}}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSnapshots returns a zone's snapshots.
func (c *Client) ListSnapshots(ctx context.Context, zone string) ([]api.Snapshot, error) {
	var out []api.Snapshot
	if err := c.do(ctx, request{method: http.MethodGet, path: "/zones/" + esc(zone) + "/snapshots"}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RestoreSnapshot starts restoring a stopped zone from a snapshot.
func (c *Client) RestoreSnapshot(ctx context.Context, zone, name string) (*api.Operation, error) {
	var out api.Operation
	req := request{method: http.MethodPost, path: "/zones/" + esc(zone) + "/snapshots/" + esc(name) + "/restore"}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSnapshot removes a snapshot.
func (c *Client) DeleteSnapshot(ctx context.Context, zone, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/zones/" + esc(zone) + "/snapshots/" + esc(name)}, nil)
}

// CloneZone makes a new stopped zone from a copy of zone src.
func (c *Client) CloneZone(ctx context.Context, src string, req api.CloneZoneRequest) (*api.Zone, error) {
	var out api.Zone
	if err := c.do(ctx, request{method: http.MethodPost, path: "/zones/" + esc(src) + "/clone", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExportZone starts writing a zone to an archive on the daemon's host.
func (c *Client) ExportZone(ctx context.Context, zone string, req api.ExportZoneRequest) (*api.Operation, error) {
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodPost, path: "/zones/" + esc(zone) + "/export", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportZone starts making a zone from an export archive on the daemon's
// host.
func (c *Client) ImportZone(ctx context.Context, req api.ImportZoneRequest) (*api.Operation, error) {
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodPost, path: "/zones/import", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
