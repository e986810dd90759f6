package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/zoned-project/zoned/api"
)

// ExecOptions wires a command run by Exec to the caller's streams.
type ExecOptions struct {
	// Stdin feeds the command's standard input; nil gives it an empty
	// input at once (as "docker exec" without -i does). Exec reads Stdin in
	// a goroutine that may still be blocked in Read when Exec returns; what
	// it reads after that is dropped.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output; nil drops it. With a
	// TTY, the daemon sends everything as Stdout.
	Stdout, Stderr io.Writer
	// Resize carries new terminal sizes (width, height) to a TTY command,
	// typically one per SIGWINCH. Exec stops reading it when it returns.
	Resize <-chan [2]uint16
	// Signals carries signals to deliver to the command (say, a Ctrl-C the
	// local terminal turned into SIGINT when no TTY is used).
	Signals <-chan syscall.Signal
}

// stdinChunk is how much of Stdin goes in one frame: small enough for
// interactive latency, large enough for piped data.
const stdinChunk = 32 << 10

// Exec runs a command in a running zone and returns its exit code once it
// has ended and all its output has been written to opts.Stdout and
// opts.Stderr. An error means the stream broke or the daemon could not run
// the command; the exit code is then -1.
//
// The call is an HTTP upgrade to the zoned-stream protocol: frames (see
// api.WriteFrame) on the raw connection, so that stdin, resizes and signals
// flow while output comes back.
func (c *Client) Exec(ctx context.Context, name string, req api.ExecRequest, opts ExecOptions) (exitCode int, err error) {
	return c.stream(ctx, fmt.Sprintf("exec in zone %q", name), "/zones/"+esc(name)+"/exec", req, opts)
}

// stream makes the zoned-stream upgrade on path with body and carries
// opts' streams over it (exec and console); what starts its errors.
func (c *Client) stream(ctx context.Context, what, path string, body any, opts ExecOptions) (exitCode int, err error) {
	hreq, err := c.newHTTPRequest(ctx, request{
		method: http.MethodPost,
		path:   path,
		in:     body,
		header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {api.UpgradeProtocol}},
	})
	if err != nil {
		return -1, err
	}
	// Dial ourselves rather than through http.Client: after the 101 the
	// connection is ours, and closing it is how cancellation reaches every
	// goroutine below.
	conn, err := c.dial(ctx)
	if err != nil {
		return -1, err
	}
	var closeOnce sync.Once
	closeConn := func() { closeOnce.Do(func() { _ = conn.Close() }) }
	defer closeConn()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			closeConn()
		case <-done:
		}
	}()
	// wrapErr prefers the context's word when cancellation broke the
	// stream, since the I/O error it caused says nothing useful.
	wrapErr := func(what string, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s: %w", what, ctxErr)
		}
		return fmt.Errorf("%s: %s: %w", what, what, err)
	}

	if err := hreq.Write(conn); err != nil {
		return -1, wrapErr("send request", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return -1, wrapErr("read answer", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
			return -1, fmt.Errorf("%s: zoned answered %s instead of switching to %s", what, resp.Status, api.UpgradeProtocol)
		}
		return -1, decodeError(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), api.UpgradeProtocol) {
		return -1, fmt.Errorf("%s: zoned switched to protocol %q, want %q", what, resp.Header.Get("Upgrade"), api.UpgradeProtocol)
	}

	// Frames from several goroutines must not interleave.
	var wmu sync.Mutex
	send := func(t api.FrameType, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return api.WriteFrame(conn, t, p)
	}

	// Input side. Write errors end these goroutines quietly: the read
	// loop below sees the same broken connection and reports it.
	go func() {
		if opts.Stdin == nil {
			_ = send(api.FrameCloseStdin, nil)
			return
		}
		buf := make([]byte, stdinChunk)
		for {
			n, rerr := opts.Stdin.Read(buf)
			if n > 0 {
				if send(api.FrameStdin, buf[:n]) != nil {
					return
				}
			}
			if rerr != nil {
				// Any read error ends the input as EOF does: the
				// command gets to finish with what it has.
				_ = send(api.FrameCloseStdin, nil)
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	}()
	if opts.Resize != nil || opts.Signals != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-opts.Resize:
					if !ok {
						opts.Resize = nil // a closed channel stops counting
						continue
					}
					if send(api.FrameResize, api.ResizePayload(sz[0], sz[1])) != nil {
						return
					}
				case sig, ok := <-opts.Signals:
					if !ok {
						opts.Signals = nil
						continue
					}
					if sig <= 0 || sig > 255 {
						continue
					}
					if send(api.FrameSignal, []byte{byte(sig)}) != nil {
						return
					}
				}
			}
		}()
	}

	// Output side, in this goroutine, so that every byte is written to
	// the caller's writers before Exec returns.
	stdout, stderr := orDiscard(opts.Stdout), orDiscard(opts.Stderr)
	for {
		t, p, err := api.ReadFrame(br)
		if err != nil {
			// A peer that closes with our frames unread resets the
			// connection instead of ending it: the same drop.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				if ctxErr := ctx.Err(); ctxErr != nil {
					return -1, fmt.Errorf("%s: %w", what, ctxErr)
				}
				return -1, fmt.Errorf("%s: zoned closed the stream before the command's exit status", what)
			}
			return -1, wrapErr("read stream", err)
		}
		switch t {
		case api.FrameStdout:
			if _, err := stdout.Write(p); err != nil {
				return -1, fmt.Errorf("%s: write stdout: %w", what, err)
			}
		case api.FrameStderr:
			if _, err := stderr.Write(p); err != nil {
				return -1, fmt.Errorf("%s: write stderr: %w", what, err)
			}
		case api.FrameExit:
			code, err := api.ParseExit(p)
			if err != nil {
				return -1, fmt.Errorf("%s: %w", what, err)
			}
			return code, nil
		case api.FrameError:
			return -1, frameError(p)
		default:
			// Unknown frame types are skipped, so a newer daemon may add
			// some without breaking older clients.
		}
	}
}

// frameError turns an Error frame's payload into an error. The payload is
// text; a daemon may also send an api.Error as JSON to keep the class.
func frameError(p []byte) error {
	var ae api.Error
	if len(p) > 0 && p[0] == '{' && json.Unmarshal(p, &ae) == nil && ae.Message != "" {
		if ae.Code == "" {
			ae.Code = "internal"
		}
		return fromAPI(0, ae)
	}
	msg := strings.TrimSpace(string(p))
	if msg == "" {
		msg = "exec failed without a message"
	}
	return &Error{Code: "internal", Message: msg}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
