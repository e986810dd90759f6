package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// version is zonectl's own version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

// app is what every command shares: where the daemon is and the streams.
type app struct {
	socket string
	// remote is --remote; remoteClient the client pickRemote chose for
	// it (nil: the socket).
	remote       string
	remoteClient *client.Client
	stdin        io.Reader
	stdout       io.Writer
	stderr       io.Writer
}

func (a *app) client() *client.Client {
	if a.remoteClient != nil {
		return a.remoteClient
	}
	return client.New(a.socket)
}

// pickRemote chooses the daemon a command talks to: --remote, or the
// remote a "NAME:zone" argument names (the prefix is taken off), or the
// default remote, or the socket. Arguments after "--" (a command run in a
// zone) are never looked at.
func (a *app) pickRemote(cmd *cobra.Command, args []string) error {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "remote" && c.Parent() != nil && c.Parent().Parent() == nil {
			return nil // managing remotes talks to no daemon
		}
	}
	cfg, err := loadRemotes()
	if err != nil {
		return err
	}
	name := a.remote
	n := len(args)
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		n = dash
	}
	for i := 0; i < n; i++ {
		r, rest, ok := cfg.splitRemote(args[i])
		if !ok {
			continue
		}
		if name != "" && name != r {
			return usagef("arguments name two daemons, %q and %q", name, r)
		}
		name, args[i] = r, rest
	}
	if name == "" {
		name = cfg.Default
	}
	if name == "" || name == localRemote {
		return nil
	}
	a.remoteClient, err = cfg.client(name)
	return err
}

// usageError marks a mistake in the command line itself (missing
// argument, bad flag value), the only kind that earns a usage text.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitError carries the exit code of a command run in a zone, which
// zonectl passes on as its own without printing anything.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes zonectl with args and returns the process exit code. It is
// main without os.Exit, so tests drive the real command tree in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(context.Background())
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "zonectl: %s\n", oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) && cmd != nil {
		fmt.Fprintf(stderr, "\n%s", cmd.UsageString())
	}
	return 1
}

// oneLine keeps the error report to one line even if a message has
// several: scripts read zonectl's stderr line by line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "zonectl",
		Short: "Manage zoned's zones and templates",
		Long: `zonectl drives zoned, the OS-level virtualization daemon: it creates zones
(system containers) from templates, starts and stops them, runs commands in
them, changes their limits and manages templates.

It talks to the daemon over its Unix socket (--socket, or $ZONED_SOCKET), or
to a remote daemon over HTTPS (zonectl remote; --remote NAME or NAME:zone).`,
		Example: `  zonectl create web1 --template busybox --memory 512M --cpu-limit 150%
  zonectl start web1
  zonectl enter web1
  zonectl list`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q", args[0])
			}
			return cmd.Help()
		},
	}
	defSocket := os.Getenv("ZONED_SOCKET")
	if defSocket == "" {
		defSocket = api.DefaultSocket
	}
	root.PersistentFlags().StringVar(&a.socket, "socket", defSocket, "path of zoned's socket (env ZONED_SOCKET)")
	root.PersistentFlags().StringVar(&a.remote, "remote", "", "talk to this remote daemon (zonectl remote list) instead of the default; \"local\" is the socket")
	root.PersistentPreRunE = a.pickRemote
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	root.AddCommand(
		newCreateCmd(a), newStartCmd(a), newStopCmd(a), newRestartCmd(a), newDestroyCmd(a),
		newListCmd(a), newShowCmd(a), newSetCmd(a), newConsoleLogCmd(a),
		newExecCmd(a), newEnterCmd(a), newConsoleCmd(a),
		newTemplateCmd(a),
		newInfoCmd(a), newVersionCmd(a),
		newEventsCmd(a), newStatsCmd(a), newOperationCmd(a),
		newStorageCmd(a), newDfCmd(a), newSnapshotCmd(a), newCloneCmd(a),
		newExportCmd(a), newImportCmd(a),
		newRemoteCmd(a), newTrustCmd(a),
	)
	root.AddCommand(newNetworkCmds(a)...)
	return root
}

// needArgs accepts exactly the named positional arguments, and says which
// one is missing.
func needArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < len(names) {
			return usagef("%q needs %s", cmd.CommandPath(), strings.Join(names[len(args):], " "))
		}
		if len(args) > len(names) && len(names) == 0 {
			return usagef("%q takes no arguments, got %q", cmd.CommandPath(), args[0])
		}
		if len(args) > len(names) {
			return usagef("%q takes %s, got extra argument %q", cmd.CommandPath(), strings.Join(names, " "), args[len(names)])
		}
		return nil
	}
}
