//go:build linux

package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/store"
)

// The /v1/trust routes manage who may use the HTTPS API. They are
// operator-only (route.operatorOnly) and answer 503 when the daemon
// serves no HTTPS.

func (s *Server) trustOn() error {
	if s.trust == nil {
		return fmt.Errorf("the daemon serves no HTTPS (start it with -https-address): %w", errdefs.ErrUnavailable)
	}
	return nil
}

func (s *Server) apiClient(c *store.TrustedClient) api.TrustedClient {
	return api.TrustedClient{Name: c.Name, Fingerprint: c.Fingerprint, Scope: toAPIScope(c.Scope), AddedAt: c.AddedAt, ExpiresAt: c.ExpiresAt, Connections: s.trust.Connections(c.Fingerprint)}
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	cs, err := s.trust.Clients()
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.TrustedClient, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.apiClient(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	c, err := s.trust.ClientNamed(r.PathValue("client"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.apiClient(c))
}

func (s *Server) addClient(w http.ResponseWriter, r *http.Request) {
	var req api.AddClientRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	scope, err := fromAPIScope(req.Scope)
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.trust.AddCertificate(req.Name, []byte(req.Certificate), scope)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.apiClient(c))
}

func (s *Server) removeClient(w http.ResponseWriter, r *http.Request) {
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	if err := s.trust.Remove(r.PathValue("client")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req api.CreateTokenRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	scope, err := fromAPIScope(req.Scope)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.ExpiresSeconds < 0 {
		writeError(w, errdefs.WithField("expires_seconds", fmt.Errorf("a token's life cannot be negative: %w", errdefs.ErrInvalid)))
		return
	}
	tok, expires, err := s.trust.NewToken(req.Name, scope, time.Duration(req.ExpiresSeconds)*time.Second)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.TrustToken{Name: req.Name, Token: tok.String(), ServerFingerprint: tok.ServerFingerprint, Scope: toAPIScope(scope), ExpiresAt: expires})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	ts, err := s.trust.Tokens()
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]api.TrustToken, 0, len(ts))
	for _, t := range ts {
		out = append(out, api.TrustToken{Name: t.Name, ServerFingerprint: s.trust.ServerFingerprint(), Scope: toAPIScope(t.Scope), ExpiresAt: t.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := s.trustOn(); err != nil {
		writeError(w, err)
		return
	}
	if err := s.trust.RevokeToken(r.PathValue("client")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
