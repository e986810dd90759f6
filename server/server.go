//go:build linux

// Package server is zoned's API edge: it decodes and bounds requests,
// calls the zone manager, and turns the manager's classified errors into
// HTTP status codes and api.Error bodies. No zone logic lives here.
package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/manager"
	"github.com/zoned-project/zoned/trust"
)

// maxJSONBody bounds JSON request bodies; nothing zoned accepts as JSON
// comes near it.
const maxJSONBody = 1 << 20

// Server serves the API for one Manager.
type Server struct {
	m   *manager.Manager
	log *slog.Logger
	mux *http.ServeMux
	// registered lists the "METHOD pattern"s given to mux, in order.
	registered []string
	// openapi is the OpenAPI document, made once from the route table.
	openapi []byte
	// requests counts answered calls for /metrics.
	requests requestCounts
	latency  latencies // per route, for /metrics (metrics_extra.go)
	// literal maps route paths without wildcards to their methods.
	literal map[string][]string
	// streams counts open event streams, to bound them (events.go).
	streams streamCounts
	// trust checks HTTPS clients (nil: the socket only); httpsAddress
	// is where they connect.
	trust        *trust.Authority
	httpsAddress string
	// capLocks serialize each capped client's checked changes
	// (scope.go); capMu guards the map.
	capMu    sync.Mutex
	capLocks map[string]*sync.Mutex
}

// Options are what a Server serves beside the manager.
type Options struct {
	// Trust, when set, is the trust store of the HTTPS API (ServeHTTPS)
	// and of its /v1/trust routes.
	Trust *trust.Authority
	// HTTPSAddress is shown in /v1/info.
	HTTPSAddress string
}

// New returns the API handler.
func New(m *manager.Manager, log *slog.Logger, o Options) *Server {
	s := &Server{m: m, log: log, mux: http.NewServeMux(), literal: literalMethods(), trust: o.Trust, httpsAddress: o.HTTPSAddress}
	s.routes()
	s.openapi = openAPIDocument()
	return s
}

// ServeHTTP recovers from panics so that no request can take the daemon
// down, and logs every call that changes something.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w, status: 200}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			writeError(rw, fmt.Errorf("internal error"))
		}
		s.requests.add(r.Method, rw.status)
		if _, route := s.mux.Handler(r); route != "/" {
			s.latency.observe(route, time.Since(start))
		}
		if r.Method != http.MethodGet || rw.status >= 500 {
			// The audit line: who (the client's kernel-vouched
			// credentials), what, and how it ended; a failed call says
			// why, so a 500 can be understood from the log alone.
			attrs := []any{"method", r.Method, "path", r.URL.Path}
			if zone := r.PathValue("name"); zone != "" && strings.HasPrefix(r.URL.Path, "/v1/zones/") {
				attrs = append(attrs, "zone", zone)
			}
			if who := callerFrom(r.Context()); who.client != nil {
				attrs = append(attrs, "client", who.client.Name, "fingerprint", who.fingerprint)
			} else if p, ok := peerFrom(r.Context()); ok {
				attrs = append(attrs, "uid", p.UID, "pid", p.PID)
			}
			attrs = append(attrs, "status", rw.status, "duration", time.Since(start))
			level := slog.LevelInfo
			switch {
			case rw.status >= 500:
				level = slog.LevelError
				attrs = append(attrs, "code", rw.code, "error", rw.msg)
			case rw.status >= 400:
				attrs = append(attrs, "code", rw.code)
			}
			s.log.Log(r.Context(), level, "audit", attrs...)
		}
	}()
	// Go's mux answers a wrong method with a plain-text 405; ours must be
	// JSON like every other error, and a route word (import) is no zone.
	if _, pattern := s.mux.Handler(r); pattern == "/" || s.literal[r.URL.Path] != nil {
		if allowed, wrong := s.allowedMethods(r); wrong {
			methodNotAllowed(rw, r, allowed)
			return
		}
	}
	// Who calls; the route checks what their scope allows (scope.go).
	who, err := s.identify(r)
	if err != nil {
		writeError(rw, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, who))
	s.mux.ServeHTTP(rw, r)
}

// statusWriter remembers the answer's status, and an error answer's code
// and message, for the audit line.
type statusWriter struct {
	http.ResponseWriter
	status    int
	code, msg string
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (exec hijacks it).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes through (for streamed answers).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func statusOf(err error) int {
	switch errdefs.Code(err) {
	case "invalid_argument":
		return http.StatusBadRequest
	case "not_found":
		return http.StatusNotFound
	case "already_exists", "conflict":
		return http.StatusConflict
	case "unsupported":
		return http.StatusNotImplemented
	case "unavailable":
		return http.StatusServiceUnavailable
	case "precondition_failed":
		return http.StatusPreconditionFailed
	case "insufficient_storage":
		return http.StatusInsufficientStorage
	case "permission_denied":
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	status, e := errorBody(err)
	if e == nil {
		e = &api.Error{Code: errdefs.Code(err), Message: err.Error(), Field: errdefs.Field(err)}
	}
	writeErrorStatus(w, status, e)
}

func writeErrorStatus(w http.ResponseWriter, status int, e *api.Error) {
	if sw, ok := w.(*statusWriter); ok {
		sw.code, sw.msg = e.Code, e.Message
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body into v, refusing unknown fields so a
// misspelt limit is an error instead of silently ignored, and a body that
// does not say it is JSON (checkJSONType).
func decode(r *http.Request, v any) error {
	body := bufio.NewReader(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if _, err := body.Peek(1); errors.Is(err, io.EOF) {
		return fmt.Errorf("request body is empty; expected JSON: %w", errdefs.ErrInvalid)
	}
	if err := checkJSONType(r); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("request body is empty; expected JSON: %w", errdefs.ErrInvalid)
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errdefs.WithField(ute.Field, fmt.Errorf("field %q must be %s, not %s: %w", ute.Field, ute.Type, ute.Value, errdefs.ErrInvalid))
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body exceeds %d bytes: %w", maxJSONBody, errdefs.ErrInvalid)
		}
		return fmt.Errorf("request body is not valid JSON: %v: %w", err, errdefs.ErrInvalid)
	}
	if dec.More() {
		return fmt.Errorf("request body has data after the JSON value: %w", errdefs.ErrInvalid)
	}
	return nil
}

// decodeOptional is decode for bodies that may be empty.
func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	err := decode(r, v)
	if err != nil && strings.Contains(err.Error(), "request body is empty") {
		return nil
	}
	return err
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	info, err := s.m.Info(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if s.trust != nil {
		info.HTTPSAddress, info.ServerFingerprint = s.httpsAddress, s.trust.ServerFingerprint()
	}
	if err := s.scopeInfo(r.Context(), info); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, info)
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	opts, err := zoneListOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if !scopeList(callerFrom(r.Context()), &opts) {
		writeJSON(w, 200, []api.Zone{})
		return
	}
	zones, next, err := s.m.ListZonesPage(r.Context(), opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if next != "" {
		w.Header().Set(api.NextAfterHeader, next)
	}
	writeJSON(w, 200, zones)
}

// zoneListOptions reads ?state=&template=&limit=&after=&label= (the manager
// checks the values).
func zoneListOptions(r *http.Request) (api.ZoneListOptions, error) {
	q := r.URL.Query()
	opts := api.ZoneListOptions{State: api.ZoneState(q.Get("state")), Template: q.Get("template"), After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return opts, errdefs.WithField("limit", fmt.Errorf("query limit=%q is not a number from 1 to %d: %w", v, api.MaxListLimit, errdefs.ErrInvalid))
		}
		opts.Limit = n
	}
	for _, sel := range q["label"] {
		k, v, ok := strings.Cut(sel, "=")
		if !ok {
			return opts, errdefs.WithField("label", fmt.Errorf("query label=%q is not KEY=VALUE: %w", sel, errdefs.ErrInvalid))
		}
		if opts.Labels == nil {
			opts.Labels = map[string]string{}
		}
		opts.Labels[k] = v
	}
	return opts, nil
}

func (s *Server) createZone(w http.ResponseWriter, r *http.Request) {
	var req api.CreateZoneRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	who := callerFrom(r.Context())
	if err := scopeCreate(who, &req); err != nil {
		writeError(w, err)
		return
	}
	defer s.capLock(who)()
	if err := s.checkCaps(r.Context(), who, "", req.Resources); err != nil {
		writeError(w, err)
		return
	}
	z, err := s.m.CreateZone(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, z)
}

func (s *Server) getZone(w http.ResponseWriter, r *http.Request) {
	z, err := s.m.GetZone(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	setETag(w, z)
	writeJSON(w, 200, z)
}

func (s *Server) updateZone(w http.ResponseWriter, r *http.Request) {
	var p api.ZonePatch
	if err := decode(r, &p); err != nil {
		writeError(w, err)
		return
	}
	rev, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	who := callerFrom(r.Context())
	scopePatch(who, &p)
	if who.capped() && p.Resources != nil {
		defer s.capLock(who)()
		cur, err := s.m.GetZone(r.Context(), r.PathValue("name"))
		if err == nil {
			err = s.checkCaps(r.Context(), who, cur.Name, patchedResources(cur.Resources, p.Resources))
		}
		if err != nil {
			writeError(w, err)
			return
		}
	}
	z, err := s.m.UpdateZoneIfMatch(r.Context(), r.PathValue("name"), rev, p)
	if err != nil {
		writeError(w, err)
		return
	}
	setETag(w, z)
	writeJSON(w, 200, z)
}

func (s *Server) destroyZone(w http.ResponseWriter, r *http.Request) {
	force, err := boolQuery(r, "force")
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.m.DestroyZone(r.Context(), r.PathValue("name"), force); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) startZone(w http.ResponseWriter, r *http.Request) {
	z, err := s.m.StartZone(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, z)
}

func (s *Server) stopZone(w http.ResponseWriter, r *http.Request) {
	var req api.StopRequest
	if err := decodeOptional(r, &req); err != nil {
		writeError(w, err)
		return
	}
	z, err := s.m.StopZone(r.Context(), r.PathValue("name"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, z)
}

func (s *Server) restartZone(w http.ResponseWriter, r *http.Request) {
	var req api.StopRequest
	if err := decodeOptional(r, &req); err != nil {
		writeError(w, err)
		return
	}
	z, err := s.m.RestartZone(r.Context(), r.PathValue("name"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, z)
}

func (s *Server) consoleLog(w http.ResponseWriter, r *http.Request) {
	rc, err := s.m.ConsoleLog(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.Copy(w, rc)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	t, err := s.m.ListTemplates(r.Context())
	if err == nil {
		err = s.scopeTemplates(r.Context(), t)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, t)
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) {
	t, err := s.m.GetTemplate(r.Context(), r.PathValue("name"))
	if err == nil {
		ts := []api.Template{*t}
		err = s.scopeTemplates(r.Context(), ts)
		t = &ts[0]
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, t)
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) {
	var req api.CreateTemplateRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	op, err := s.m.CreateTemplate(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, op)
}

func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request) {
	t, err := s.m.ImportTemplate(r.Context(), r.PathValue("name"), r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	if err := s.m.DeleteTemplate(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	op, err := s.m.GetOperation(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, op)
}

// maxWait bounds a wait call so a client cannot park requests forever.
const maxWait = 5 * time.Minute

func (s *Server) waitOperation(w http.ResponseWriter, r *http.Request) {
	timeout := 30 * time.Second
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, errdefs.WithField("timeout", fmt.Errorf("timeout %q is not a duration like 30s: %w", v, errdefs.ErrInvalid)))
			return
		}
		timeout = min(d, maxWait)
	}
	op, err := s.m.WaitOperation(r.Context(), r.PathValue("id"), timeout)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, op)
}

func (s *Server) hostShutdown(w http.ResponseWriter, r *http.Request) {
	var req api.HostShutdownRequest
	if err := decodeOptional(r, &req); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.m.ShutdownZones(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, res)
}

func boolQuery(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errdefs.WithField(key, fmt.Errorf("query %s=%q is not true or false: %w", key, v, errdefs.ErrInvalid))
	}
	return b, nil
}

// Listen opens the API socket: the directory 0755, the socket 0660, group
// "zoned" when that group exists, so root and members of the group can
// drive the daemon and nobody else can. A stale socket left by a daemon
// that died is replaced; a live one is an error.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s is in use by a running zoned: %w", path, errdefs.ErrUnavailable)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o117)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if g, err := user.LookupGroup("zoned"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			_ = os.Chown(path, 0, gid)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve serves the API on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       withConn,
	}
	return serveUntilDone(ctx, hs, l, 10*time.Second)
}

// serveUntilDone runs hs on l until ctx ends, then gives open requests
// grace to finish.
func serveUntilDone(ctx context.Context, hs *http.Server, l net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}
