//go:build linux

package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// consoleWriteTimeout bounds one frame's write to a console client: one
// that stops reading is cut off instead of keeping a goroutine forever.
const consoleWriteTimeout = 30 * time.Second

// wantsUpgrade answers 400 unless r asks for the zoned-stream upgrade.
func wantsUpgrade(w http.ResponseWriter, r *http.Request, what string) bool {
	if strings.EqualFold(r.Header.Get("Upgrade"), api.UpgradeProtocol) {
		return true
	}
	writeError(w, fmt.Errorf("%s needs the headers Connection: Upgrade and Upgrade: %s: %w", what, api.UpgradeProtocol, errdefs.ErrInvalid))
	return false
}

// switchProtocols takes the connection over from net/http and answers 101;
// the caller closes the connection.
func switchProtocols(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+api.UpgradeProtocol+"\r\n\r\n"); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, brw, nil
}

// console attaches the client to a zone's console over the hijacked
// connection (see api.ConsoleRequest for the frames).
func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	if !wantsUpgrade(w, r, "console") {
		return
	}
	var req api.ConsoleRequest
	if err := decodeOptional(r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	sess, err := s.m.AttachConsole(r.Context(), name, req.Width, req.Height)
	if err != nil {
		writeError(w, err)
		return
	}
	defer sess.Close()
	conn, brw, err := switchProtocols(w)
	if err != nil {
		s.log.Error("console: switch protocols", "zone", name, "err", err)
		return
	}
	defer conn.Close()
	s.log.Info("console attached", "zone", name)

	var wmu sync.Mutex
	send := func(t api.FrameType, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(consoleWriteTimeout))
		return api.WriteFrame(conn, t, p)
	}
	detached := make(chan struct{})
	go func() {
		// detached is closed before the session: closing the session ends
		// the Output loop below, whose select must already see the detach,
		// or a client that detached would be told the zone stopped.
		defer sess.Close()
		defer close(detached)
		for {
			t, p, err := api.ReadFrame(brw.Reader)
			if err != nil {
				return
			}
			switch t {
			case api.FrameStdin:
				if _, err := sess.Write(p); err != nil {
					return
				}
			case api.FrameResize:
				if wd, ht, err := api.ParseResize(p); err == nil {
					_ = sess.Resize(wd, ht)
				}
			case api.FrameCloseStdin:
				return
			}
		}
	}()
	for p := range sess.Output {
		if send(api.FrameStdout, p) != nil {
			return // the client is gone or stalled
		}
	}
	select {
	case <-detached:
		_ = send(api.FrameExit, api.ExitPayload(0))
		s.log.Info("console detached", "zone", name)
	default:
		msg := fmt.Sprintf("console of zone %q closed: the zone stopped", name)
		if sess.Dropped() {
			msg = fmt.Sprintf("console of zone %q: this client fell behind the output and was detached", name)
		}
		_ = send(api.FrameError, []byte(msg))
	}
}
