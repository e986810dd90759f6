package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
)

// addLabelFlag gives a command its repeatable --label flag.
func addLabelFlag(cmd *cobra.Command, doc string) *[]string {
	return cmd.Flags().StringArrayP("label", "l", nil, doc)
}

// parseLabels reads KEY=VALUE arguments; with removals, KEY- (as kubectl
// takes it) names a label to remove.
func parseLabels(args []string, removals bool) (set map[string]string, remove []string, err error) {
	for _, a := range args {
		if k, ok := strings.CutSuffix(a, "-"); ok && removals && !strings.Contains(a, "=") {
			remove = append(remove, k)
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			if removals {
				return nil, nil, usagef("--label %q: expected KEY=VALUE, or KEY- to remove it", a)
			}
			return nil, nil, usagef("--label %q: expected KEY=VALUE", a)
		}
		if set == nil {
			set = map[string]string{}
		}
		set[k] = v
	}
	return set, remove, nil
}

// setLabels changes some of a zone's labels: PATCH replaces them all, so
// the zone is read first and written back only if nobody changed it in
// between (If-Match).
func setLabels(cmd *cobra.Command, c *client.Client, name string, patch api.ZonePatch, args []string) (*api.Zone, error) {
	set, remove, err := parseLabels(args, true)
	if err != nil {
		return nil, err
	}
	z, err := c.GetZone(cmd.Context(), name)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range z.Labels {
		labels[k] = v
	}
	for k, v := range set {
		labels[k] = v
	}
	for _, k := range remove {
		delete(labels, k)
	}
	patch.Labels = labels
	return c.UpdateZoneIfMatch(cmd.Context(), name, client.ZoneETag(z), patch)
}
