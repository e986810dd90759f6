package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/internal/units"
)

// waitStep is how long one wait call may block in the daemon: short
// enough that progress shows while a template builds.
const waitStep = 2 * time.Second

func newTemplateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "template",
		Aliases: []string{"templates", "tpl"},
		Short:   "Manage OS templates zones are created from",
		Long: `Manage templates: root filesystems zones are created from. Build one with
debootstrap, import a tar of a root filesystem, list, show and delete them.`,
		Example: `  zonectl template list
  zonectl template create debian12 --from debootstrap --suite bookworm
  zonectl template import alpine alpine-rootfs.tar.gz`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newTemplateListCmd(a), newTemplateShowCmd(a), newTemplateImportCmd(a),
		newTemplateCreateCmd(a), newTemplateDeleteCmd(a))
	return cmd
}

func newTemplateListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List templates",
		Long:    `List every template with how it was made, its size, how many zones use it and when it was made.`,
		Example: `  zonectl template list
  zonectl template list -o yaml`,
		Args: needArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		tpls, err := a.client().ListTemplates(cmd.Context())
		if err != nil {
			return err
		}
		if tpls == nil {
			tpls = []api.Template{}
		}
		return writeData(a.stdout, *out, tpls, func(w io.Writer) error { return writeTemplateTable(w, tpls) })
	}
	return cmd
}

func newTemplateShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a template",
		Long:    `Show one template: its source, packages, init, size and the zones made from it.`,
		Example: `  zonectl template show debian12`,
		Args:    needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		t, err := a.client().GetTemplate(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, t, func(w io.Writer) error { return writeTemplateDetails(w, t) })
	}
	return cmd
}

func newTemplateImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Import a root filesystem tar as a template",
		Long: `Import a template from a tar of a root filesystem, plain or compressed with
gzip or zstd. FILE "-" reads the tar from stdin. Progress shows on stderr when
it is a terminal.`,
		Example: `  zonectl template import alpine alpine-minirootfs.tar.gz
  debootstrap-to-tar | zonectl template import debian12 -`,
		Args: needArgs("NAME", "FILE"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		name, file := args[0], args[1]
		var r io.Reader
		var size int64 = -1
		if file == "-" {
			r = a.stdin
		} else {
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("open template file: %w", err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("open template file: %w", err)
			}
			if fi.Mode().IsRegular() {
				size = fi.Size()
			}
			r = f
		}
		// Ctrl-C aborts the upload; the daemon drops what it got.
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		var p *progress
		if isTerminal(a.stderr) {
			p = &progress{w: a.stderr, label: "sending " + file, total: size, r: r}
			r = p
			if size >= 0 {
				r = sizedProgress{p}
			}
			defer p.finish()
		}
		t, err := a.client().ImportTemplate(ctx, name, r)
		if err != nil {
			return err
		}
		if p != nil {
			p.finish()
		}
		return writeData(a.stdout, *out, t, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "template %q imported (%s)\n", t.Name, units.FormatBytes(t.SizeBytes))
			return err
		})
	}
	return cmd
}

// progress counts bytes read through it and redraws one status line at
// most a few times a second.
type progress struct {
	w     io.Writer
	label string
	total int64
	r     io.Reader

	mu       sync.Mutex
	n        int64
	last     time.Time
	finished bool
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond || err == io.EOF {
		p.last = now
		p.draw()
	}
	return n, err
}

func (p *progress) draw() {
	if p.total > 0 {
		fmt.Fprintf(p.w, "\r%s: %s / %s (%d%%)  ", p.label, units.FormatBytes(p.n), units.FormatBytes(p.total), p.n*100/p.total)
	} else {
		fmt.Fprintf(p.w, "\r%s: %s  ", p.label, units.FormatBytes(p.n))
	}
}

// finish ends the status line, once.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.finished {
		p.finished = true
		p.draw()
		fmt.Fprintln(p.w)
	}
}

// sizedProgress tells the client how much is left, so the upload still
// carries a Content-Length when the file is wrapped for progress.
type sizedProgress struct{ *progress }

func (s sizedProgress) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.total - s.n)
}

func newTemplateCreateCmd(a *app) *cobra.Command {
	var req api.CreateTemplateRequest
	cmd := &cobra.Command{
		Use:   "create NAME [--from debootstrap|builtin] | NAME --from dir|oci PATH",
		Short: "Build a template (debootstrap, a directory, an OCI image)",
		Long: `Build a template in the daemon, typically a Debian root with debootstrap
(about half a minute and 200 MB for a minimal bookworm). Progress shows on
stderr; zonectl exits non-zero if the build fails. Interrupting zonectl only
stops the waiting: the build goes on in zoned.

--from dir PATH copies a directory of the host; --from oci PATH applies the
layers of an OCI image layout directory or a "docker save" archive. PATH is
read by the daemon, on its host.`,
		Example: `  zonectl template create debian12 --from debootstrap --suite bookworm
  zonectl template create mine --from dir /srv/rootfs
  zonectl template create alpine --from oci alpine.tar
  zonectl template create debian12-systemd --suite bookworm --include systemd-sysv,dbus --mirror http://deb.debian.org/debian`,
		Args: cobra.RangeArgs(1, 2),
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVar(&req.From, "from", "debootstrap", "how to build it: debootstrap, builtin, dir PATH or oci PATH")
	cmd.Flags().StringVar(&req.Suite, "suite", "bookworm", "distribution suite for debootstrap")
	cmd.Flags().StringSliceVar(&req.Include, "include", nil, "extra packages, comma separated")
	cmd.Flags().StringVar(&req.Mirror, "mirror", "", "package mirror URL (default: the daemon's)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		req.Name = args[0]
		switch {
		case (req.From == "dir" || req.From == "oci") && len(args) != 2:
			return usagef("--from %s needs a PATH after the name", req.From)
		case req.From != "dir" && req.From != "oci" && len(args) != 1:
			return usagef("%q takes a PATH only with --from dir or oci", cmd.CommandPath())
		case len(args) == 2:
			p, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			req.Path = p
		}
		if (req.From != "debootstrap" || req.Path != "") && !cmd.Flags().Changed("suite") {
			req.Suite = "" // a suite means nothing to a builtin template
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		c := a.client()
		op, err := c.CreateTemplate(ctx, req)
		if err != nil {
			return err
		}
		op, err = a.follow(ctx, c, op)
		if err != nil {
			return err
		}
		if err := client.OperationError(op); err != nil {
			return err
		}
		t, err := c.GetTemplate(cmd.Context(), req.Name)
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, t, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "template %q created (%s)\n", t.Name, units.FormatBytes(t.SizeBytes))
			return err
		})
	}
	return cmd
}

// follow waits for an operation to end, printing each new progress step
// on stderr, and returns it finished.
func (a *app) follow(ctx context.Context, c *client.Client, op *api.Operation) (*api.Operation, error) {
	lastProgress, lastMsg := -1, ""
	for {
		if op.Progress != lastProgress || op.Message != lastMsg {
			fmt.Fprintf(a.stderr, "[%3d%%] %s\n", op.Progress, op.Message)
			lastProgress, lastMsg = op.Progress, op.Message
		}
		if op.Status != api.OperationRunning {
			return op, nil
		}
		next, err := c.WaitOperation(ctx, op.ID, waitStep)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, fmt.Errorf("stopped waiting: operation %s goes on in zoned (zonectl template list shows the result)", op.ID)
			}
			return nil, err
		}
		op = next
	}
}

func newTemplateDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a template",
		Long:    `Delete a template. A template that zones were created from cannot be deleted until they are destroyed.`,
		Example: `  zonectl template delete debian12`,
		Args:    needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.client().DeleteTemplate(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.stdout, "template %q deleted\n", args[0])
			return err
		},
	}
}
