package client

import (
	"context"
	"net/http"

	"github.com/zoned-project/zoned/api"
)

// The trust store of the daemon's HTTPS API (operators only: the socket
// or an HTTPS client without a scope).

// CreateTrustToken makes a one-time token that enrols a client (see
// Enrol). The token is in this answer only.
func (c *Client) CreateTrustToken(ctx context.Context, req api.CreateTokenRequest) (*api.TrustToken, error) {
	var out api.TrustToken
	if err := c.do(ctx, request{method: http.MethodPost, path: "/trust/tokens", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListTrustTokens lists the pending tokens, without their secrets.
func (c *Client) ListTrustTokens(ctx context.Context) ([]api.TrustToken, error) {
	var out []api.TrustToken
	return out, c.do(ctx, request{method: http.MethodGet, path: "/trust/tokens"}, &out)
}

// RevokeTrustToken deletes a client's pending token.
func (c *Client) RevokeTrustToken(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/trust/tokens/" + esc(name)}, nil)
}

// ListTrustedClients lists the clients the HTTPS API accepts.
func (c *Client) ListTrustedClients(ctx context.Context) ([]api.TrustedClient, error) {
	var out []api.TrustedClient
	return out, c.do(ctx, request{method: http.MethodGet, path: "/trust/clients"}, &out)
}

// GetTrustedClient returns one trusted client.
func (c *Client) GetTrustedClient(ctx context.Context, name string) (*api.TrustedClient, error) {
	var out api.TrustedClient
	if err := c.do(ctx, request{method: http.MethodGet, path: "/trust/clients/" + esc(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddTrustedClient trusts a certificate the caller made.
func (c *Client) AddTrustedClient(ctx context.Context, req api.AddClientRequest) (*api.TrustedClient, error) {
	var out api.TrustedClient
	if err := c.do(ctx, request{method: http.MethodPost, path: "/trust/clients", in: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveTrustedClient stops trusting a client; the daemon cuts its open
// connections and streams.
func (c *Client) RemoveTrustedClient(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/trust/clients/" + esc(name)}, nil)
}
