//go:build linux

package server

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/zoned-project/zoned/api"
)

// edgeError is an error only the API edge can have, about the HTTP
// request itself rather than what it asks (a body of the wrong media
// type, too many streams): it carries its status and code, since no
// errdefs class fits and the core never sees it.
type edgeError struct {
	status int
	code   string
	msg    string
}

func (e *edgeError) Error() string { return e.msg }

// errorBody is the status and api.Error of err: an edgeError's own, or
// the errdefs class's.
func errorBody(err error) (int, *api.Error) {
	var ee *edgeError
	if errors.As(err, &ee) {
		return ee.status, &api.Error{Code: ee.code, Message: err.Error()}
	}
	return statusOf(err), nil
}

// checkJSONType refuses a JSON body sent as something else: a form or a
// text/plain body is what a browser page can send across origins without
// asking first, so requiring the JSON type keeps such pages from driving
// a daemon reachable through a proxy, and tells a caller that forgot the
// header what is wrong instead of guessing.
func checkJSONType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		what := "no Content-Type"
		if ct != "" {
			what = fmt.Sprintf("Content-Type %q", ct)
		}
		return &edgeError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("%s %s has a body with %s; send it as Content-Type: application/json", r.Method, r.URL.Path, what)}
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return &edgeError{http.StatusUnsupportedMediaType, "unsupported_media_type",
				fmt.Sprintf("%s %s: Content-Type parameter %s=%s is not supported; send application/json (UTF-8: charset=utf-8 or none)", r.Method, r.URL.Path, k, v)}
		}
	}
	return nil
}

// literalMethods maps each route path without wildcards to the methods
// it serves. Such a path wins over a wildcard route for its methods only
// (POST /v1/zones/import against GET /v1/zones/{name}): any other method
// on it is a 405, not a call on a zone named "import".
func literalMethods() map[string][]string {
	m := map[string][]string{}
	for _, rt := range routeTable {
		if !strings.Contains(rt.pattern, "{") {
			m[rt.pattern] = append(m[rt.pattern], rt.method)
		}
	}
	return m
}

// allowedMethods returns the methods that serve r's path; wrong says
// whether r's own method is not among them.
func (s *Server) allowedMethods(r *http.Request) (allowed []string, wrong bool) {
	if ms, ok := s.literal[r.URL.Path]; ok {
		allowed = ms
	} else {
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			r2 := r.Clone(r.Context())
			r2.Method = m
			if _, p := s.mux.Handler(r2); p != "/" {
				allowed = append(allowed, m)
			}
		}
	}
	if len(allowed) == 0 {
		return nil, false
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return allowed, !slices.Contains(allowed, method)
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 asks for.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed []string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeErrorStatus(w, http.StatusMethodNotAllowed, &api.Error{Code: "method_not_allowed",
		Message: fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
}
