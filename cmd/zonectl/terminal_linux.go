package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// watchResize sends the terminal's size on every SIGWINCH until stop.
func watchResize(fd int) (<-chan [2]uint16, func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	out := make(chan [2]uint16, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-winch:
				w, h, err := term.GetSize(fd)
				if err != nil {
					continue
				}
				// Only the latest size matters: replace one not yet sent.
				select {
				case <-out:
				default:
				}
				out <- [2]uint16{uint16(w), uint16(h)}
			}
		}
	}()
	return out, func() { signal.Stop(winch); close(done) }
}

// forwardSignals catches the signals a user sends zonectl so they reach
// the command in the zone instead of killing zonectl mid-stream. A third
// Ctrl-C gives up on the command and calls cancel, for a zone that does not
// react.
func forwardSignals(cancel context.CancelFunc) (<-chan syscall.Signal, func()) {
	in := make(chan os.Signal, 4)
	signal.Notify(in, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)
	out := make(chan syscall.Signal, 4)
	done := make(chan struct{})
	go func() {
		ints := 0
		for {
			select {
			case <-done:
				return
			case s := <-in:
				sig, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				if sig == unix.SIGINT {
					if ints++; ints >= 3 {
						cancel()
						return
					}
				}
				select {
				case out <- sig:
				default: // the stream is stuck; dropping beats blocking
				}
			}
		}
	}()
	return out, func() { signal.Stop(in); close(done) }
}
