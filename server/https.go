//go:build linux

package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/manager"
	"github.com/zoned-project/zoned/pki"
	"github.com/zoned-project/zoned/store"
)

// ServeHTTPS serves the same API on l (a TCP listener) over TLS 1.3 with
// client certificates checked by the trust Authority given to New, until
// ctx ends. Streams (exec, console, events) work as on the socket.
func (s *Server) ServeHTTPS(ctx context.Context, l net.Listener) error {
	if s.trust == nil {
		return fmt.Errorf("serve HTTPS: no trust store: %w", errdefs.ErrUnavailable)
	}
	hs := &http.Server{
		Handler: s,
		// Bounded like the socket, and slow clients are timed out: a
		// TCP peer is not a local process the kernel vouches for.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       withConn,
	}
	return serveUntilDone(ctx, hs, s.trust.Listener(l), 10*time.Second)
}

// caller is who made a request: a trusted HTTPS client, or (client nil)
// a local process on the socket, whose credentials peerFrom gives.
type caller struct {
	client      *store.TrustedClient
	fingerprint string
}

// operator tells whether the caller has every right: the socket (guarded
// by its file mode) or an HTTPS client without a scope.
func (c caller) operator() bool {
	if c.client == nil {
		return true
	}
	sc := c.client.Scope
	return !sc.ReadOnly && len(sc.Labels) == 0 && sc.MaxMemoryBytes == 0 && sc.MaxCPUPercent == 0 && sc.MaxDiskBytes == 0
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// identify finds the caller of r. An HTTPS request whose certificate is
// no longer trusted (removed after its handshake, before the cut reached
// this connection) is refused.
func (s *Server) identify(r *http.Request) (caller, error) {
	if r.TLS == nil {
		return caller{}, nil
	}
	if s.trust == nil || len(r.TLS.PeerCertificates) == 0 {
		return caller{}, fmt.Errorf("client not trusted: %w", errdefs.ErrPermission)
	}
	fp := pki.Fingerprint(r.TLS.PeerCertificates[0].Raw)
	c := s.trust.Client(fp)
	if c == nil {
		return caller{}, fmt.Errorf("client certificate %s is no longer trusted: %w", fp, errdefs.ErrPermission)
	}
	return caller{client: c, fingerprint: fp}, nil
}

func toAPIScope(sc store.Scope) api.ClientScope {
	return api.ClientScope{ReadOnly: sc.ReadOnly, Labels: sc.Labels, MaxMemoryBytes: sc.MaxMemoryBytes, MaxCPUPercent: sc.MaxCPUPercent, MaxDiskBytes: sc.MaxDiskBytes}
}

// fromAPIScope checks a requested scope: labels that select something,
// and caps only with labels, since caps count the zones labels select.
func fromAPIScope(sc api.ClientScope) (store.Scope, error) {
	if sc.MaxMemoryBytes < 0 || sc.MaxCPUPercent < 0 || sc.MaxDiskBytes < 0 {
		return store.Scope{}, errdefs.WithField("scope", fmt.Errorf("a cap cannot be negative: %w", errdefs.ErrInvalid))
	}
	if (sc.MaxMemoryBytes > 0 || sc.MaxCPUPercent > 0 || sc.MaxDiskBytes > 0) && len(sc.Labels) == 0 {
		return store.Scope{}, errdefs.WithField("scope", fmt.Errorf("caps count the zones a client's labels select: give it labels too: %w", errdefs.ErrInvalid))
	}
	if err := manager.ValidateLabels(sc.Labels); err != nil {
		return store.Scope{}, errdefs.WithField("scope", err)
	}
	for k, v := range sc.Labels {
		if v == "" {
			return store.Scope{}, errdefs.WithField("scope", fmt.Errorf("scope label %q has no value, which every zone would match: %w", k, errdefs.ErrInvalid))
		}
	}
	return store.Scope{ReadOnly: sc.ReadOnly, Labels: sc.Labels, MaxMemoryBytes: sc.MaxMemoryBytes, MaxCPUPercent: sc.MaxCPUPercent, MaxDiskBytes: sc.MaxDiskBytes}, nil
}
