package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// enterShell logs in with bash where the zone has it, else sh: one
// command line, so zonectl need not look inside the zone first.
var enterShell = []string{"/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi"}

type execFlags struct {
	tty, interactive bool
	env              []string
	cwd              string
}

func newExecCmd(a *app) *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec NAME [flags] -- COMMAND [ARG...]",
		Short: "Run a command in a running zone",
		Long: `Run a command in a running zone, with its stdout and stderr passed through;
zonectl exits with the command's exit code.

Stdin is only passed with -i (as "docker exec" does). -t gives the command a
terminal: the local one is put in raw mode and its size follows the window.
With -t on a local terminal, stdin is attached as if -i were given.`,
		Example: `  zonectl exec web1 -- uname -a
  zonectl exec web1 -e LANG=C.UTF-8 --cwd /srv -- ls -l
  tar c site | zonectl exec web1 -i -- tar x -C /srv
  zonectl exec web1 -t -- top`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("%q needs NAME and a COMMAND", cmd.CommandPath())
			}
			if len(args) < 2 {
				return usagef("%q needs a COMMAND after NAME (zonectl exec %s -- COMMAND)", cmd.CommandPath(), args[0])
			}
			if dash := cmd.ArgsLenAtDash(); dash > 1 {
				return usagef("%q takes one NAME before --, got %q", cmd.CommandPath(), args[:dash])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, e := range f.env {
				if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") {
					return usagef("-e: invalid environment entry %q: expected KEY=VALUE", e)
				}
			}
			return a.exec(cmd.Context(), args[0], args[1:], f)
		},
	}
	cmd.Flags().BoolVarP(&f.tty, "tty", "t", false, "give the command a terminal")
	cmd.Flags().BoolVarP(&f.interactive, "interactive", "i", false, "pass stdin to the command")
	cmd.Flags().StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE), repeatable")
	cmd.Flags().StringVar(&f.cwd, "cwd", "", "working directory inside the zone")
	return cmd
}

func newEnterCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "enter NAME",
		Short: "Open a login shell in a running zone",
		Long: `Open an interactive login shell in a running zone: bash when the zone has it,
else sh. Same as "zonectl exec -t -i NAME -- <login shell>", with TERM taken
from the local terminal.`,
		Example: `  zonectl enter web1`,
		Args:    needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.exec(cmd.Context(), args[0], enterShell, execFlags{tty: true, interactive: true})
		},
	}
}

// exec runs command in zone name and turns its exit code into zonectl's.
func (a *app) exec(ctx context.Context, name string, command []string, f execFlags) error {
	req := api.ExecRequest{Command: command, Env: f.env, Cwd: f.cwd, TTY: f.tty}
	opts := client.ExecOptions{Stdout: a.stdout, Stderr: a.stderr}

	inFd, inTerm := terminalFd(a.stdin)
	interactive := f.interactive || (f.tty && inTerm)
	if interactive {
		opts.Stdin = a.stdin
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if f.tty {
		if !hasEnv(f.env, "TERM") {
			t := os.Getenv("TERM")
			if t == "" {
				t = "xterm"
			}
			req.Env = append(append([]string(nil), f.env...), "TERM="+t)
		}
		sizeFd, ok := inFd, inTerm
		if !ok {
			sizeFd, ok = terminalFd(a.stdout)
		}
		if ok {
			if w, h, err := term.GetSize(sizeFd); err == nil {
				req.Width, req.Height = uint16(w), uint16(h)
			}
			resize, stop := watchResize(sizeFd)
			defer stop()
			opts.Resize = resize
		}
		if inTerm {
			// Raw mode hands every key, Ctrl-C included, to the zone's
			// terminal, which does the line discipline.
			old, err := term.MakeRaw(inFd)
			if err != nil {
				return fmt.Errorf("put the local terminal in raw mode: %w", err)
			}
			defer func() { _ = term.Restore(inFd, old) }()
		}
	}
	sigs, stopSigs := forwardSignals(cancel)
	defer stopSigs()
	opts.Signals = sigs

	code, err := a.client().Exec(ctx, name, req, opts)
	if err != nil {
		return err
	}
	if code == 0 {
		return nil
	}
	// A process exit status is one byte; keep a non-zero code non-zero.
	if c := code & 0xff; c != 0 {
		return &exitError{c}
	}
	return &exitError{1}
}

// terminalFd returns the descriptor of v when it is a terminal.
func terminalFd(v any) (int, bool) {
	f, ok := v.(*os.File)
	if !ok {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// isTerminal says whether w is a terminal, for progress output.
func isTerminal(w io.Writer) bool {
	_, ok := terminalFd(w)
	return ok
}
