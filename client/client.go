// Package client is the Go client of zoned's REST API: the one way zonectl
// talks to the daemon, and the package hosting control panels import to do
// the same. It speaks HTTP+JSON over the daemon's Unix socket and hands back
// the wire types of package api.
//
// Errors the daemon answers with come back as *Error, which wraps the
// matching errdefs sentinel, so callers can test the class of a failure:
//
//	if errors.Is(err, errdefs.ErrNotFound) { ... }
//
// An unreachable daemon gives an error that wraps errdefs.ErrUnavailable
// and says so plainly.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// baseURL is what every request goes to; the host part is only a label,
// since the transport always dials the socket.
const baseURL = "http://zoned"

// Client talks to one zoned daemon. It is safe for concurrent use.
type Client struct {
	socket string
	// remote, when set, is the daemon reached over HTTPS (NewRemote)
	// instead of the socket.
	remote *remote
	http   *http.Client
	// UserAgent is sent with every request; control panels may set their
	// own so the daemon's log tells callers apart.
	UserAgent string
}

// New returns a client for the daemon listening on socketPath, or on
// api.DefaultSocket when socketPath is empty. It does not connect yet.
func New(socketPath string) *Client {
	if socketPath == "" {
		socketPath = api.DefaultSocket
	}
	c := &Client{socket: socketPath, UserAgent: "zoned-client/" + api.Version}
	c.init()
	return c
}

// init makes the HTTP client, which dials through c.dial whatever the
// transport (the socket, or TLS to a remote).
func (c *Client) init() {
	c.http = &http.Client{
		// No overall Timeout: waits on operations are long by design;
		// callers bound every call with their context instead.
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return c.dial(ctx)
			},
			MaxIdleConns:        4,
			MaxIdleConnsPerHost: 4,
			DisableCompression:  true,
		},
	}
}

// Socket returns the path of the socket the client talks to.
func (c *Client) Socket() string { return c.socket }

// dial opens a connection to the daemon, turning the usual failures into a
// message an operator can act on.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	if c.remote != nil {
		return c.remote.dial(ctx)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, &ConnectError{Socket: c.socket, Err: err}
	}
	return conn, nil
}

// ConnectError says the daemon's socket could not be reached. It wraps
// errdefs.ErrUnavailable and the dial error.
type ConnectError struct {
	Socket string
	Err    error
}

func (e *ConnectError) Error() string {
	switch {
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("cannot reach zoned at %s: permission denied (zoned's socket is for root and its group)", e.Socket)
	case errors.Is(e.Err, context.Canceled), errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("cannot reach zoned at %s: %v", e.Socket, e.Err)
	}
	if strings.HasPrefix(e.Socket, "https://") {
		return fmt.Sprintf("cannot reach zoned at %s: %v", e.Socket, e.Err)
	}
	reason := e.Err.Error()
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		reason = errno.Error()
	}
	return fmt.Sprintf("cannot reach zoned at %s: is the daemon running? (%s)", e.Socket, reason)
}

// Unwrap lets errors.Is find both the class and the cause.
func (e *ConnectError) Unwrap() []error { return []error{errdefs.ErrUnavailable, e.Err} }

// Error is an error answer of the daemon. Its message is the daemon's
// message, and it wraps the errdefs sentinel of its Code.
type Error struct {
	// StatusCode is the HTTP status of the answer (0 for errors that came
	// in an operation or an exec stream).
	StatusCode int
	// Code, Message and Field are those of the api.Error answer.
	Code    string
	Message string
	Field   string
}

// APIError returns the error as its wire form.
func (e *Error) APIError() *api.Error {
	return &api.Error{Code: e.Code, Message: e.Message, Field: e.Field}
}

// fromAPI makes an *Error from a wire error.
func fromAPI(status int, ae api.Error) *Error {
	return &Error{StatusCode: status, Code: ae.Code, Message: ae.Message, Field: ae.Field}
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the errdefs sentinel of the error's code (nil for
// "internal" and unknown codes).
func (e *Error) Unwrap() error { return errdefs.FromCode(e.Code) }

// codeForStatus guesses a code for an answer that carries no api.Error
// body (a proxy in between, a daemon bug), so errors.Is still works.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_argument"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusNotImplemented:
		return "unsupported"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusPreconditionFailed:
		return "precondition_failed"
	case http.StatusInsufficientStorage:
		return "insufficient_storage"
	}
	return "internal"
}

// decodeError reads an error answer. It always returns a non-nil *Error.
func decodeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ae api.Error
	if err := json.Unmarshal(body, &ae); err != nil || ae.Message == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		ae = api.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("zoned answered %s", resp.Status)}
		if msg != "" {
			ae.Message += ": " + msg
		}
	}
	e := fromAPI(resp.StatusCode, ae)
	if e.Code == "" {
		e.Code = codeForStatus(resp.StatusCode)
	}
	return e
}

// OperationError returns the failure of a finished operation as an error
// that wraps its errdefs sentinel, or nil when the operation did not fail.
func OperationError(op *api.Operation) error {
	if op == nil || (op.Status != api.OperationFailure && op.Status != api.OperationCancelled) {
		return nil
	}
	if op.Err == nil {
		return &Error{Code: "internal", Message: fmt.Sprintf("operation %s (%s %s) failed", op.ID, op.Kind, op.Target)}
	}
	return fromAPI(0, *op.Err)
}

// request is one call to the daemon.
type request struct {
	method string
	path   string // below /v1, starting with "/"
	query  url.Values
	// in is sent as JSON, unless it is an io.Reader, which is sent as is.
	in any
	// header is extra request headers.
	header http.Header
}

// newHTTPRequest builds the HTTP request of r.
func (c *Client) newHTTPRequest(ctx context.Context, r request) (*http.Request, error) {
	u := baseURL + "/" + api.Version + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	var contentType string
	var length int64 = -1
	switch in := r.in.(type) {
	case nil:
	case io.Reader:
		// Hide any Close method: net/http closes a ReadCloser body, and the
		// caller's file is the caller's to close.
		body, contentType, length = struct{ io.Reader }{in}, "application/octet-stream", readerLength(in)
		if length == 0 {
			body = http.NoBody
		}
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request to %s %s: %w", r.method, r.path, err)
		}
		body, contentType, length = bytes.NewReader(b), "application/json", int64(len(b))
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", r.method, r.path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
		if length >= 0 {
			req.ContentLength = length
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

// do sends r and decodes a 2xx answer's JSON into out (when out is not nil
// and the answer has a body). Any other status becomes an *Error.
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer closeBody(resp.Body)
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.path, ctxErr)
		}
		return fmt.Errorf("decode answer of %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// send sends r and returns a 2xx answer, whose body the caller closes.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Keep the operator-facing dial message intact rather than
		// prefixing it with the URL machinery's words.
		var ce *ConnectError
		if errors.As(err, &ce) {
			return nil, ce
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctxErr)
		}
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer closeBody(resp.Body)
		return nil, decodeError(resp)
	}
	return resp, nil
}

// closeBody drains a little of what is left, so the connection can be
// reused, and closes the body.
func closeBody(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, 64<<10))
	_ = b.Close()
}

// readerLength is the number of bytes left in r when that is known
// cheaply, else -1 (then the body goes chunked).
func readerLength(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface {
		Stat() (fs.FileInfo, error)
		io.Seeker
	}:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
