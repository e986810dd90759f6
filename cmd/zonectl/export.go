package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
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
	var name, pool, template string
	var l limitFlags
	var privileged bool
	var devices, labelArgs []string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Make a zone from an export archive",
		Long: `Make a stopped zone from an archive "zonectl export" wrote. Every file and the
whole stream are checked against the archive's manifest; a truncated or altered
archive is refused and leaves nothing behind. A layer archive needs its
template here; a full archive brings its root as the template NAME-root. FILE
is read by the daemon, on its host.

An archive is data, whoever made it: the zone gets the privilege, devices,
limits, labels and autostart given here, as "zonectl create" would, never the
ones recorded in the archive. What the archive asked for beyond them is left
out with a warning; an archive of a privileged zone becomes an unprivileged
zone unless --privileged is given. --disk also caps what the archive may
unpack to.`,
		Example: `  zonectl import /srv/backup/web1.zoned
  zonectl import /srv/backup/web1.zoned --name web1-copy --pool fast --memory 1G --disk 20G --label customer=c1042`,
		Args: needArgs("FILE"),
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new zone (default: the exported zone's)")
	cmd.Flags().StringVar(&pool, "pool", "", "storage pool for the zone (default: the data dir)")
	cmd.Flags().StringVar(&template, "template", "", "template a layer archive is laid over (default: the archive's, unless that is another imported zone's root)")
	cmd.Flags().BoolVar(&privileged, "privileged", false, "no user namespace: root inside is root on the host; only for archives you trust")
	cmd.Flags().StringSliceVar(&devices, "device", nil, "optional host device to give the zone: tun or fuse; repeatable")
	cmd.Flags().StringArrayVarP(&labelArgs, "label", "l", nil, "label the zone KEY=VALUE; repeatable")
	addLimitFlags(cmd, &l)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := filepath.Abs(args[0])
		if err != nil {
			return err
		}
		res, delay, labels, err := l.grant(labelArgs)
		if err != nil {
			return err
		}
		req := api.ImportZoneRequest{
			Path: path, Name: name, Template: template, Pool: pool, Privileged: privileged, Devices: devices,
			Resources: res, Labels: labels, Autostart: l.autostart,
			AutostartPriority: l.autostartPriority, AutostartDelaySeconds: delay,
		}
		c := a.client()
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
		defer stop()
		op, err := c.ImportZone(ctx, req)
		if err != nil {
			return err
		}
		if op, err = a.follow(ctx, c, op); err != nil {
			return err
		}
		if err := client.OperationError(op); err != nil {
			return err
		}
		// The operation's last message says what of the archive's
		// configuration was left out.
		if _, w, ok := strings.Cut(op.Message, "; warning: "); ok {
			fmt.Fprintf(a.stderr, "zonectl: warning: %s\n", w)
		}
		_, err = fmt.Fprintf(a.stdout, "zone imported from %s\n", path)
		return err
	}
	return cmd
}

// grant parses what create and import give a zone: its limits, autostart
// delay and labels.
func (l *limitFlags) grant(labelArgs []string) (api.Resources, int, map[string]string, error) {
	res, err := l.resources()
	if err != nil {
		return res, 0, nil, err
	}
	delay, err := l.autostartDelaySeconds()
	if err != nil {
		return res, 0, nil, err
	}
	labels, _, err := parseLabels(labelArgs, false)
	return res, delay, labels, err
}
