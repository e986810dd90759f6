package client

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/zoned-project/zoned/api"
)

// ConsoleOptions wires an attached console to the caller's streams.
type ConsoleOptions struct {
	// Stdin is typed on the console. Reading DetachKey, or the end of
	// Stdin, detaches. nil attaches read-only until ctx ends.
	Stdin io.Reader
	// Stdout receives the console's output from the moment of attaching.
	Stdout io.Writer
	// Width and Height set the console's size at attach; Resize carries
	// later sizes.
	Width, Height uint16
	Resize        <-chan [2]uint16
	// DetachKey is the byte in Stdin that detaches; 0 means
	// api.ConsoleDetachKey (Ctrl-]).
	DetachKey byte
}

// Console attaches to the console of a running zone and returns nil when
// the caller detached (DetachKey or end of Stdin). It returns an error when
// the zone stopped, the daemon dropped this client for falling behind the
// output, or ctx ended. Other clients may be attached at the same time;
// all see the output and all may type.
func (c *Client) Console(ctx context.Context, name string, opts ConsoleOptions) error {
	key := opts.DetachKey
	if key == 0 {
		key = api.ConsoleDetachKey
	}
	var in io.Reader = &detachReader{r: opts.Stdin, key: key}
	if opts.Stdin == nil {
		in = ctxReader{ctx}
	}
	_, err := c.stream(ctx, fmt.Sprintf("console of zone %q", name), "/zones/"+esc(name)+"/console",
		api.ConsoleRequest{Width: opts.Width, Height: opts.Height},
		ExecOptions{Stdin: in, Stdout: opts.Stdout, Resize: opts.Resize})
	return err
}

// detachReader passes r through up to the detach key, then reads EOF.
type detachReader struct {
	r    io.Reader
	key  byte
	seen bool
}

func (d *detachReader) Read(p []byte) (int, error) {
	if d.seen {
		return 0, io.EOF
	}
	n, err := d.r.Read(p)
	if i := bytes.IndexByte(p[:n], d.key); i >= 0 {
		d.seen = true
		return i, nil
	}
	return n, err
}

// ctxReader reads nothing until ctx ends.
type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}
