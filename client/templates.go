package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/zoned-project/zoned/api"
)

// ListTemplates returns every template.
func (c *Client) ListTemplates(ctx context.Context) ([]api.Template, error) {
	var out []api.Template
	if err := c.do(ctx, request{method: http.MethodGet, path: "/templates"}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetTemplate returns one template.
func (c *Client) GetTemplate(ctx context.Context, name string) (*api.Template, error) {
	var out api.Template
	if err := c.do(ctx, request{method: http.MethodGet, path: "/templates/" + esc(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateTemplate starts building a template (debootstrap takes minutes) and
// returns the operation to follow with WaitOperation.
func (c *Client) CreateTemplate(ctx context.Context, req api.CreateTemplateRequest) (*api.Operation, error) {
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodPost, path: "/templates", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportTemplate uploads a root filesystem tar stream, plain or compressed
// with gzip or zstd (the daemon tells them apart), as template name. When r
// is a regular file or has a Len, its size is sent so the daemon can check
// space before unpacking.
func (c *Client) ImportTemplate(ctx context.Context, name string, r io.Reader) (*api.Template, error) {
	var out api.Template
	req := request{method: http.MethodPut, path: "/templates/" + esc(name), in: r}
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteTemplate removes a template no zone uses.
func (c *Client) DeleteTemplate(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/templates/" + esc(name)}, nil)
}

// GetOperation returns where an operation stands now.
func (c *Client) GetOperation(ctx context.Context, id string) (*api.Operation, error) {
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodGet, path: "/operations/" + esc(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitOperation waits until the operation is done or timeout has passed in
// the daemon, and returns it either way: check Status. A timeout of 0 lets
// the daemon choose. A failed operation is not an error of this call; see
// OperationError.
func (c *Client) WaitOperation(ctx context.Context, id string, timeout time.Duration) (*api.Operation, error) {
	if timeout < 0 {
		return nil, fmt.Errorf("wait for operation %s: negative timeout %s", id, timeout)
	}
	var q url.Values
	if timeout > 0 {
		q = url.Values{"timeout": {timeout.String()}}
	}
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodGet, path: "/operations/" + esc(id) + "/wait", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
