package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
)

func newExportCmd(a *app) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "export NAME FILE",
		Short: "Write a zone to an archive",
		Long: `Write a zone's configuration, its template's name and its own layer to FILE
(a zstd tar with a sha256 of every file and of the whole stream). --full writes
the whole root instead, so the archive imports where the template is missing;
zones on btrfs are always written whole. FILE is written by the daemon, on its
host, and must not exist. A running zone is frozen while it is read; a full
export of an overlay zone needs it stopped.`,
		Example: `  zonectl export web1 /srv/backup/web1.zoned
  zonectl export web1 /srv/backup/web1-full.zoned --full`,
		Args: needArgs("NAME", "FILE"),
	}
	cmd.Flags().BoolVar(&full, "full", false, "write the whole root, not only the zone's own layer")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := filepath.Abs(args[1])
		if err != nil {
			return err
		}
		c := a.client()
		if err := a.runOperation(cmd.Context(), c, func(ctx context.Context) (*api.Operation, error) {
			return c.ExportZone(ctx, args[0], api.ExportZoneRequest{Path: path, Full: full})
		}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "zone %q exported to %s\n", args[0], path)
		return err
	}
	return cmd
}

func newImportCmd(a *app) *cobra.Command {
	var name, pool string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Make a zone from an export archive",
		Long: `Make a stopped zone from an archive "zonectl export" wrote. Every file and the
whole stream are checked against the archive's manifest; a truncated or altered
archive is refused and leaves nothing behind. A layer archive needs its
template here; a full archive brings its root as the template NAME-root. FILE
is read by the daemon, on its host.`,
		Example: `  zonectl import /srv/backup/web1.zoned
  zonectl import /srv/backup/web1.zoned --name web1-copy --pool fast`,
		Args: needArgs("FILE"),
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new zone (default: the exported zone's)")
	cmd.Flags().StringVar(&pool, "pool", "", "storage pool for the zone (default: the data dir)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := filepath.Abs(args[0])
		if err != nil {
			return err
		}
		c := a.client()
		if err := a.runOperation(cmd.Context(), c, func(ctx context.Context) (*api.Operation, error) {
			return c.ImportZone(ctx, api.ImportZoneRequest{Path: path, Name: name, Pool: pool})
		}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "zone imported from %s\n", path)
		return err
	}
	return cmd
}
