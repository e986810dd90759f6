package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

func newStorageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "storage",
		Aliases: []string{"pool", "pools"},
		Short:   "Manage storage pools, where zone roots live",
		Long: `Manage storage pools: directories that hold zones' own layers. The default
pool is the daemon's data dir. A pool's backend is picked from its filesystem:
btrfs (a snapshot per zone of a template subvolume) on btrfs, overlay (an upper
directory per zone over the shared template) anywhere else.`,
		Example: `  zonectl storage list
  zonectl storage create fast --path /srv/zones
  zonectl storage delete fast`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newStorageListCmd(a), newStorageCreateCmd(a), newStorageDeleteCmd(a))
	return cmd
}

func newStorageListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List storage pools",
		Long: `List every storage pool with its backend, the quota backend that enforces
zones' --disk there (btrfs-qgroup, project, image, or none where --disk is
refused), its directory and how many zones live in it.`,
		Example: `  zonectl storage list
  zonectl storage list -o json`,
		Args: needArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		pools, err := a.client().ListPools(cmd.Context())
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, pools, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tBACKEND\tQUOTA\tPATH\tZONES")
			for _, p := range pools {
				name := p.Name
				if p.Default {
					name += " (default)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", name, p.Backend, p.Quota, p.Path, len(p.Zones))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newStorageCreateCmd(a *app) *cobra.Command {
	var path, backend string
	cmd := &cobra.Command{
		Use:   "create NAME --path DIR [--backend overlay|btrfs]",
		Short: "Make a directory a storage pool",
		Long: `Make DIR a storage pool. Without --backend the backend is picked from DIR's
filesystem; asking for btrfs on a directory that is not on btrfs is an error.`,
		Example: `  zonectl storage create fast --path /srv/zones
  zonectl storage create snap --path /mnt/btrfs/zones --backend btrfs`,
		Args: needArgs("NAME"),
	}
	cmd.Flags().StringVar(&path, "path", "", "directory of the pool (absolute; created if missing)")
	cmd.Flags().StringVar(&backend, "backend", "", "overlay or btrfs (default: from the filesystem)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		if path == "" {
			return usagef("%q needs --path DIR", cmd.CommandPath())
		}
		p, err := a.client().CreatePool(cmd.Context(), api.CreatePoolRequest{Name: args[0], Path: path, Backend: backend})
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, p, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "pool %q created at %s (%s)\n", p.Name, p.Path, p.Backend)
			return err
		})
	}
	return cmd
}

func newStorageDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Forget a storage pool no zone uses",
		Long:    `Forget a storage pool. Refused while zones live in it. The directory itself stays.`,
		Example: `  zonectl storage delete fast`,
		Args:    needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.client().DeletePool(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.stdout, "pool %q deleted\n", args[0])
			return err
		},
	}
}

func newDfCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "df",
		Short: "Show disk used by templates and zones, and what sharing saves",
		Long: `Show each template's bytes, each zone's own bytes (what it added or changed),
and the saving against every zone being a full copy of its template. Bytes are
counted on disk: extents a btrfs snapshot shares with its template count once.`,
		Example: `  zonectl df
  zonectl df -o json`,
		Args: needArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		du, err := a.client().DiskUsage(cmd.Context())
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, du, func(w io.Writer) error { return writeDiskUsage(w, du) })
	}
	return cmd
}

func writeDiskUsage(w io.Writer, du *api.DiskUsage) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tSIZE\tZONES\tPOOL COPIES")
	for _, t := range du.Templates {
		var copies []string
		for p, n := range t.PoolCopyBytes {
			copies = append(copies, p+"="+units.FormatBytes(n))
		}
		sort.Strings(copies)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Name, units.FormatBytes(t.Bytes), t.Zones, orDash(strings.Join(copies, " ")))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ZONE\tPOOL\tTEMPLATE\tOWN")
	for _, z := range du.Zones {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", z.Name, z.Pool, z.Template, units.FormatBytes(z.OwnBytes))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "used %s, as full copies %s, saved %s\n", units.FormatBytes(du.UsedBytes), units.FormatBytes(du.FullCopyBytes), units.FormatBytes(du.SavedBytes))
	return tw.Flush()
}
