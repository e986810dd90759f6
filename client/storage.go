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
