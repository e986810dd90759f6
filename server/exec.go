//go:build linux

package server

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"syscall"

	"github.com/zoned-project/zoned/api"
)

// exec runs a command in a zone and carries its stdio over the hijacked
// connection as frames (see api/stream.go). The exit frame is sent after
// the command ended and its output was drained.
func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	if !wantsUpgrade(w, r, "exec") {
		return
	}
	var req api.ExecRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	sess, err := s.m.Exec(r.Context(), name, req)
	if err != nil {
		writeError(w, err)
		return
	}
	defer sess.Close()

	conn, brw, err := switchProtocols(w)
	if err != nil {
		_ = sess.Signal(syscall.SIGKILL)
		_, _ = sess.Wait()
		s.log.Error("exec: switch protocols", "zone", name, "err", err)
		return
	}
	defer conn.Close()
	s.log.Info("exec", "zone", name, "command", req.Command, "tty", req.TTY)

	var wmu sync.Mutex
	send := func(t api.FrameType, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return api.WriteFrame(conn, t, p)
	}

	var pumps sync.WaitGroup
	pump := func(rd io.Reader, t api.FrameType) {
		defer pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := rd.Read(buf)
			if n > 0 {
				if send(t, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				return // EOF, or EIO from a PTY whose other end closed
			}
		}
	}
	pumps.Add(1)
	go pump(sess.Stdout, api.FrameStdout)
	if sess.Stderr != nil {
		pumps.Add(1)
		go pump(sess.Stderr, api.FrameStderr)
	}

	exited := make(chan struct{})
	go func() {
		for {
			t, p, err := api.ReadFrame(brw.Reader)
			if err != nil {
				// The client went away: the command must not outlive it.
				select {
				case <-exited:
				default:
					_ = sess.Signal(syscall.SIGKILL)
				}
				return
			}
			switch t {
			case api.FrameStdin:
				if _, err := sess.Stdin.Write(p); err != nil && !errors.Is(err, syscall.EPIPE) {
					s.log.Debug("exec stdin", "zone", name, "err", err)
				}
			case api.FrameCloseStdin:
				if req.TTY {
					// A terminal has no half-close: send the EOF character.
					_, _ = sess.Stdin.Write([]byte{4})
				} else {
					_ = sess.Stdin.Close()
				}
			case api.FrameResize:
				if wd, ht, err := api.ParseResize(p); err == nil && req.TTY {
					_ = sess.Resize(wd, ht)
				}
			case api.FrameSignal:
				if len(p) == 1 && p[0] > 0 && p[0] < 65 {
					_ = sess.Signal(syscall.Signal(p[0]))
				}
			}
		}
	}()

	code, err := sess.Wait()
	close(exited)
	pumps.Wait()
	if err != nil {
		_ = send(api.FrameError, []byte(err.Error()))
		return
	}
	_ = send(api.FrameExit, api.ExitPayload(code))
}
