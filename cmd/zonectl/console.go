package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/zoned-project/zoned/client"
)

func newConsoleCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "console NAME",
		Short: "Attach to a running zone's console",
		Long: `Attach to the console of a running zone: what its init and services write on
/dev/console, and what a getty or shell there reads. Detach with Ctrl-]
(as in telnet and virsh); the zone keeps running. The end of input
(a pipe that ends) detaches too.

Several clients may attach at once: all see the output and all may type.
The busybox template runs a shell on its console once Enter is pressed;
Debian templates run a login prompt (console-getty). A zone adopted by a
restarted zoned has no console until it is restarted: the console belongs
to the daemon that started the zone.`,
		Example: `  zonectl console web1`,
		Args:    needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ConsoleOptions{Stdin: a.stdin, Stdout: a.stdout}
			if fd, ok := terminalFd(a.stdin); ok {
				if w, h, err := term.GetSize(fd); err == nil {
					opts.Width, opts.Height = uint16(w), uint16(h)
				}
				resize, stop := watchResize(fd)
				defer stop()
				opts.Resize = resize
				fmt.Fprintf(a.stderr, "Connected to the console of %s. Detach with Ctrl-].\r\n", args[0])
				// Raw: every key goes to the zone's console, Ctrl-C too.
				old, err := term.MakeRaw(fd)
				if err != nil {
					return fmt.Errorf("put the local terminal in raw mode: %w", err)
				}
				defer func() {
					_ = term.Restore(fd, old)
					fmt.Fprintln(a.stderr)
				}()
			}
			return a.client().Console(cmd.Context(), args[0], opts)
		},
	}
}
