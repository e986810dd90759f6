package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/zoned-project/zoned/api"
)

// ListOperations returns the operations the daemon keeps (running and
// recently finished, across daemon restarts), oldest first; status ""
// means all.
func (c *Client) ListOperations(ctx context.Context, status api.OperationStatus) ([]api.Operation, error) {
	var q url.Values
	if status != "" {
		q = url.Values{"status": {string(status)}}
	}
	var out []api.Operation
	if err := c.do(ctx, request{method: http.MethodGet, path: "/operations", query: q}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CancelOperation asks a running operation to stop. It returns at once;
// the operation ends with status "cancelled" once its work is undone
// (WaitOperation tells when). Work that cannot stop cleanly is refused
// with a conflict.
func (c *Client) CancelOperation(ctx context.Context, id string) (*api.Operation, error) {
	var out api.Operation
	if err := c.do(ctx, request{method: http.MethodDelete, path: "/operations/" + esc(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
