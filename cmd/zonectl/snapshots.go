package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/internal/units"
)

func newSnapshotCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "snapshot",
		Aliases: []string{"snapshots", "snap"},
		Short:   "Snapshot a zone's own layer, list, restore and delete snapshots",
		Long: `Snapshots hold a zone's own layer (what it changed over its template). A
running zone is frozen for the moment of the snapshot, so the snapshot is
consistent; restore works on a stopped zone.`,
		Example: `  zonectl snapshot create web1@before-upgrade
  zonectl snapshot list web1
  zonectl snapshot restore web1@before-upgrade
  zonectl snapshot delete web1@before-upgrade`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newSnapshotCreateCmd(a), newSnapshotListCmd(a), newSnapshotRestoreCmd(a), newSnapshotDeleteCmd(a))
	return cmd
}

// splitSnap splits ZONE@SNAP.
func splitSnap(arg string) (zone, snap string, err error) {
	zone, snap, ok := strings.Cut(arg, "@")
	if !ok || zone == "" || snap == "" {
		return "", "", usagef("%q is not ZONE@SNAPSHOT", arg)
	}
	return zone, snap, nil
}

// runOperation follows an operation the daemon started until it ends and
// fails with its error.
func (a *app) runOperation(ctx context.Context, c *client.Client, start func(context.Context) (*api.Operation, error)) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	op, err := start(ctx)
	if err != nil {
		return err
	}
	if op, err = a.follow(ctx, c, op); err != nil {
		return err
	}
	return client.OperationError(op)
}

// newSnapshotOpCmd is a command on ZONE@SNAPSHOT that runs an operation.
func newSnapshotOpCmd(a *app, use, short, long, example, done string, start func(c *client.Client, ctx context.Context, zone, snap string) (*api.Operation, error)) *cobra.Command {
	return &cobra.Command{
		Use:     use + " ZONE@SNAPSHOT",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    needArgs("ZONE@SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			zone, snap, err := splitSnap(args[0])
			if err != nil {
				return err
			}
			c := a.client()
			if err := a.runOperation(cmd.Context(), c, func(ctx context.Context) (*api.Operation, error) {
				return start(c, ctx, zone, snap)
			}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, done+"\n", zone, snap)
			return err
		},
	}
}

func newSnapshotCreateCmd(a *app) *cobra.Command {
	return newSnapshotOpCmd(a, "create", "Snapshot a zone's own layer",
		`Snapshot a zone's own layer. A running zone is frozen while the snapshot is taken.`,
		`  zonectl snapshot create web1@daily`, "snapshot %s@%s created", (*client.Client).CreateSnapshot)
}

func newSnapshotListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list ZONE",
		Aliases: []string{"ls"},
		Short:   "List a zone's snapshots",
		Long:    `List a zone's snapshots with when they were taken and what they take on disk.`,
		Example: `  zonectl snapshot list web1`,
		Args:    needArgs("ZONE"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		snaps, err := a.client().ListSnapshots(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, snaps, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCREATED\tSIZE\tWHILE RUNNING")
			for _, s := range snaps {
				fmt.Fprintf(tw, "%s@%s\t%s\t%s\t%v\n", s.Zone, s.Name, formatTime(s.CreatedAt), units.FormatBytes(s.SizeBytes), s.Running)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newSnapshotRestoreCmd(a *app) *cobra.Command {
	return newSnapshotOpCmd(a, "restore", "Bring a stopped zone's layer back to a snapshot",
		`Replace a stopped zone's own layer with a copy of the snapshot. The snapshot stays.`,
		`  zonectl stop web1 && zonectl snapshot restore web1@daily`, "zone %q restored from snapshot %q", (*client.Client).RestoreSnapshot)
}

func newSnapshotDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ZONE@SNAPSHOT",
		Aliases: []string{"rm"},
		Short:   "Delete a snapshot",
		Long:    `Delete a snapshot of a zone.`,
		Example: `  zonectl snapshot delete web1@daily`,
		Args:    needArgs("ZONE@SNAPSHOT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			zone, snap, err := splitSnap(args[0])
			if err != nil {
				return err
			}
			if err := a.client().DeleteSnapshot(cmd.Context(), zone, snap); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "snapshot %s@%s deleted\n", zone, snap)
			return err
		},
	}
}
