package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

func newOperationCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "operation",
		Aliases: []string{"op"},
		Short:   "Follow and cancel slow work in the daemon",
		Long: `Slow work (template builds) runs in zoned as operations. They are kept in
the daemon's store, so they can be followed across a daemon restart; one the
daemon died in says in its outcome whether it was rolled back or resumed.`,
		Example: `  zonectl operation list
  zonectl operation wait 0b6c…
  zonectl operation cancel 0b6c…`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List operations", Args: needArgs(),
		Long:    "List the operations zoned keeps: running ones and those finished in the last week (at most 500), oldest first.",
		Example: "  zonectl operation list\n  zonectl operation list --status running -o json"}
	listOut := addOutputFlag(list)
	status := list.Flags().String("status", "", "only operations with this status (running, success, failure, cancelled)")
	list.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*listOut); err != nil {
			return err
		}
		ops, err := a.client().ListOperations(cmd.Context(), api.OperationStatus(*status))
		if err != nil {
			return err
		}
		if ops == nil {
			ops = []api.Operation{}
		}
		return writeData(a.stdout, *listOut, ops, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tTARGET\tSTATUS\tPROGRESS\tOUTCOME\tCREATED")
			for _, op := range ops {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d%%\t%s\t%s\n", op.ID, op.Kind, op.Target, op.Status, op.Progress, orDash(op.Outcome), formatTime(op.CreatedAt))
			}
			return tw.Flush()
		})
	}
	show := &cobra.Command{Use: "show ID", Short: "Show an operation", Args: needArgs("ID"),
		Long:    "Show an operation: status, progress, error, and the outcome when a daemon restart interrupted it.",
		Example: "  zonectl operation show 0b6c2f1e-…"}
	showOut := addOutputFlag(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*showOut); err != nil {
			return err
		}
		op, err := a.client().GetOperation(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *showOut, op, func(w io.Writer) error { return writeOperation(w, op) })
	}
	wait := &cobra.Command{Use: "wait ID", Short: "Wait for an operation to end", Args: needArgs("ID"),
		Long:    "Wait for an operation to end, showing its progress on stderr; exits non-zero if it failed or was cancelled.",
		Example: "  zonectl operation wait 0b6c2f1e-…"}
	wait.RunE = func(cmd *cobra.Command, args []string) error {
		c := a.client()
		op, err := c.GetOperation(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if op, err = a.follow(cmd.Context(), c, op); err != nil {
			return err
		}
		return client.OperationError(op)
	}
	cancel := &cobra.Command{Use: "cancel ID", Short: "Cancel a running operation", Args: needArgs("ID"),
		Long:    "Cancel a running operation: its work stops and is undone (a template build removes what it built), and it ends as cancelled.",
		Example: "  zonectl operation cancel 0b6c2f1e-…"}
	cancel.RunE = func(cmd *cobra.Command, args []string) error {
		c := a.client()
		op, err := c.CancelOperation(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if op, err = a.follow(cmd.Context(), c, op); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "operation %s: %s\n", op.ID, op.Status)
		return nil
	}
	cmd.AddCommand(list, show, wait, cancel)
	return cmd
}

func writeOperation(w io.Writer, op *api.Operation) error {
	k := newKV(w)
	k.add("ID", op.ID)
	k.add("Kind", op.Kind)
	k.add("Target", op.Target)
	k.add("Status", op.Status)
	k.add("Progress", fmt.Sprintf("%d%%", op.Progress))
	k.add("Message", orDash(op.Message))
	if op.Err != nil {
		k.add("Error", op.Err.Message)
	}
	k.add("Outcome", orDash(op.Outcome))
	k.add("Created", formatTime(op.CreatedAt))
	k.add("Updated", formatTime(op.UpdatedAt))
	return k.flush()
}
