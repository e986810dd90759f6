package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
)

func newEventsCmd(a *app) *cobra.Command {
	var types []string
	var zone string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Follow what happens to zones and operations",
		Long: `Print zoned's events as they happen, one per line, until interrupted:
zones created, started, stopped, updated and destroyed, and the progress of
operations. --json prints each event as the daemon's JSON line.`,
		Example: `  zonectl events
  zonectl events --type zone-started,zone-stopped --zone web1
  zonectl events --json`,
		Args: needArgs(),
	}
	cmd.Flags().StringSliceVar(&types, "type", nil, "only these event types ("+strings.Join(api.EventTypes, ", ")+")")
	cmd.Flags().StringVar(&zone, "zone", "", "only events about this zone")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print events as JSON lines")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ch, err := a.client().Events(cmd.Context(), api.EventFilter{Types: types, Zone: zone})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(a.stdout)
		for e := range ch {
			if asJSON {
				if err := enc.Encode(e); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(a.stdout, formatEvent(e))
			}
			if e.Type == api.EventError {
				return errors.New(e.Message)
			}
		}
		return nil
	}
	return cmd
}

// formatEvent is an event's one-line human form.
func formatEvent(e api.Event) string {
	parts := []string{formatTime(e.Time), e.Type}
	if e.Zone != "" {
		parts = append(parts, "zone="+e.Zone)
	}
	if e.Operation != "" {
		parts = append(parts, "operation="+e.Operation, fmt.Sprintf("progress=%d%%", e.Progress))
	}
	if e.State != "" {
		parts = append(parts, "state="+e.State)
	}
	if e.Message != "" {
		parts = append(parts, fmt.Sprintf("%q", e.Message))
	}
	return strings.Join(parts, " ")
}
