package manager

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/creack/pty"

	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/validate"
)

// maxConsoleClients bounds how many clients attach to one console at once.
// Several may (an operator and a panel's log viewer): all see the output,
// all may type, as on a shared serial console.
const maxConsoleClients = 8

// consoleClientQueue is how many reads of console output wait for one
// client; a client further behind is dropped, so neither the console log
// nor the other clients ever wait for a slow one.
const consoleClientQueue = 256

// consoleFanout hands what a zone writes on its console to the attached
// clients. copyConsole feeds it; it ends when the console does.
type consoleFanout struct {
	mu      sync.Mutex
	clients map[*ConsoleSession]struct{}
	ended   bool
}

func newConsoleFanout() *consoleFanout {
	return &consoleFanout{clients: map[*ConsoleSession]struct{}{}}
}

// write passes p to every client without blocking.
func (f *consoleFanout) write(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.clients) == 0 {
		return
	}
	c := bytes.Clone(p)
	for s := range f.clients {
		select {
		case s.out <- c:
		default:
			s.dropped.Store(true)
			delete(f.clients, s)
			close(s.out)
		}
	}
}

// end closes every client's output: the console is gone.
func (f *consoleFanout) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	for s := range f.clients {
		delete(f.clients, s)
		close(s.out)
	}
}

func (f *consoleFanout) add(s *ConsoleSession) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return fmt.Errorf("the console has closed: %w", errdefs.ErrConflict)
	}
	if len(f.clients) >= maxConsoleClients {
		return fmt.Errorf("%d clients are attached to the console already: %w", maxConsoleClients, errdefs.ErrConflict)
	}
	f.clients[s] = struct{}{}
	return nil
}

func (f *consoleFanout) remove(s *ConsoleSession) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clients[s]; ok {
		delete(f.clients, s)
		close(s.out)
	}
}

// ConsoleSession is one client attached to a zone's console.
type ConsoleSession struct {
	// Output carries the console's output from the moment of attaching.
	// It is closed when the session is closed, the console ends (the zone
	// stopped) or the client fell behind (Dropped).
	Output  <-chan []byte
	out     chan []byte
	fan     *consoleFanout
	master  *os.File
	dropped atomic.Bool
}

// Write types p on the console.
func (s *ConsoleSession) Write(p []byte) (int, error) { return s.master.Write(p) }

// Resize sets the console's terminal size.
func (s *ConsoleSession) Resize(width, height uint16) error {
	return pty.Setsize(s.master, &pty.Winsize{Cols: width, Rows: height})
}

// Dropped tells whether Output closed because the client fell behind.
func (s *ConsoleSession) Dropped() bool { return s.dropped.Load() }

// Close detaches; the zone and other clients are not affected.
func (s *ConsoleSession) Close() { s.fan.remove(s) }

// AttachConsole attaches to the console of a running zone. It holds no
// zone lock: a client that attaches and stalls blocks nothing.
func (m *Manager) AttachConsole(ctx context.Context, name string, width, height uint16) (*ConsoleSession, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	if _, err := m.store.GetZone(name); err != nil {
		return nil, fmt.Errorf("attach console of zone %q: %w", name, err)
	}
	rz := m.runtime(name)
	if rz == nil {
		return nil, fmt.Errorf("zone %q is not running: %w", name, errdefs.ErrConflict)
	}
	if rz.console == nil || rz.fanout == nil {
		// The PTY master lives in the daemon that started the zone.
		return nil, fmt.Errorf("attach console of zone %q: its console was lost when zoned restarted; the zone runs on, restart it to get a console: %w", name, errdefs.ErrUnavailable)
	}
	out := make(chan []byte, consoleClientQueue)
	s := &ConsoleSession{Output: out, out: out, fan: rz.fanout, master: rz.console}
	if err := rz.fanout.add(s); err != nil {
		return nil, fmt.Errorf("attach console of zone %q: %w", name, err)
	}
	if width > 0 && height > 0 {
		_ = s.Resize(width, height)
	}
	return s, nil
}

// consoleLogMax is the size at which the console log is rotated once, so a
// chatty guest cannot fill the host's disk.
const consoleLogMax = 1 << 20

// copyConsole keeps what the zone writes to /dev/console in console.log
// and hands it to attached clients.
func (m *Manager) copyConsole(name string, master *os.File, fan *consoleFanout) {
	defer fan.end()
	path := filepath.Join(m.fs.ZoneDir(name), "console.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		m.log.Warn("cannot open console log", "zone", name, "err", err)
		_, _ = io.Copy(io.Discard, master)
		return
	}
	defer func() { f.Close() }()
	// Small: one of these lives per running zone, and a console's bursts
	// are short lines. With a thousand zones 32 KiB each would be 32 MB.
	buf := make([]byte, 4<<10)
	for {
		n, err := master.Read(buf)
		if n > 0 {
			if st, serr := f.Stat(); serr == nil && st.Size()+int64(n) > consoleLogMax {
				f.Close()
				_ = os.Rename(path, path+".1")
				if f, serr = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); serr != nil {
					return
				}
			}
			_, _ = f.Write(buf[:n])
			fan.write(buf[:n])
		}
		if err != nil {
			return // EIO once the zone's last process holding the console is gone
		}
	}
}

// ConsoleLog returns what the zone wrote on its console, oldest first.
func (m *Manager) ConsoleLog(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := validate.Name("zone", name); err != nil {
		return nil, err
	}
	if _, err := m.store.GetZone(name); err != nil {
		return nil, fmt.Errorf("zone %q: %w", name, err)
	}
	path := filepath.Join(m.fs.ZoneDir(name), "console.log")
	var readers []io.Reader
	var files multiCloser
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		readers = append(readers, f)
		files = append(files, f)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(readers...), files}, nil
}

type multiCloser []io.Closer

func (mc multiCloser) Close() error {
	for _, c := range mc {
		c.Close()
	}
	return nil
}
