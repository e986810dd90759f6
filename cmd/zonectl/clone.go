package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
)

func newCloneCmd(a *app) *cobra.Command {
	var hostname string
	cmd := &cobra.Command{
		Use:   "clone SRC DST",
		Short: "Make a new zone from a copy of another",
		Long: `Make a stopped zone DST that shares SRC's template and gets a copy of SRC's
own layer, with SRC's limits and settings but its own identity: a new UUID,
host name (DST unless --hostname), machine-id and host ID range. SRC's NICs
are not copied. A running SRC is frozen while its layer is copied.`,
		Example: `  zonectl clone web1 web2
  zonectl clone web1 web2 --hostname web2.example.com`,
		Args: needArgs("SRC", "DST"),
	}
	cmd.Flags().StringVar(&hostname, "hostname", "", "host name of the clone (default: its name)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		z, err := a.client().CloneZone(cmd.Context(), args[0], api.CloneZoneRequest{Name: args[1], Hostname: hostname})
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q cloned from %q (%s)", z.Name, args[0], z.State))
	}
	return cmd
}
