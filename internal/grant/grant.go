// Package grant holds the one rule for a zone made from data (an export
// archive today; a migration or replication stream next): the data is the
// customer's and proves nothing about itself, so what the zone may do
// comes from the operator's request only.
//
// From the data a zone takes its identity hints: its name and its
// template's name (when the request names none) and its host name; the
// caller checks that the data may name that template. Everything
// that widens isolation or escapes limits — privileged, devices,
// resources, labels (a panel's tenant and billing keys), pool, NICs, DNS,
// autostart — comes from the request; what the data asks for beyond it is
// dropped, and each drop is said in a warning.
package grant

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/zoned-project/zoned/api"
)

// Limit returns the create request for a zone made from data that asks
// for fromData, under what the operator granted, and a warning for each
// thing the data asked for that the zone does not get.
func Limit(fromData, granted api.CreateZoneRequest) (api.CreateZoneRequest, []string) {
	out := granted
	if out.Template == "" {
		out.Template = fromData.Template
	}
	if out.Name == "" {
		out.Name = fromData.Name
	}
	// The host name is the zone's identity, like its name: kept when the
	// zone keeps its name, the new name's otherwise (as a clone).
	if out.Hostname == "" && out.Name == fromData.Name {
		out.Hostname = fromData.Hostname
	}
	var warn []string
	if fromData.Template != "" && out.Template != fromData.Template {
		warn = append(warn, fmt.Sprintf("template %q from the data not used; the zone is laid over %q", fromData.Template, out.Template))
	}
	if fromData.Privileged && !granted.Privileged {
		warn = append(warn, "the data comes from a privileged zone; made unprivileged (grant privileged to keep it privileged)")
	}
	var dropped []string
	for _, d := range fromData.Devices {
		if !slices.Contains(granted.Devices, d) {
			dropped = append(dropped, d)
		}
	}
	if len(dropped) > 0 {
		warn = append(warn, fmt.Sprintf("devices %s not granted; left out", strings.Join(dropped, ",")))
	}
	if fromData.Resources != (api.Resources{}) && fromData.Resources != granted.Resources {
		b, _ := json.Marshal(fromData.Resources)
		warn = append(warn, fmt.Sprintf("resources %s from the data not applied; the zone has the request's", b))
	}
	var labels []string
	for k, v := range fromData.Labels {
		if gv, ok := granted.Labels[k]; !ok || gv != v {
			labels = append(labels, k+"="+v)
		}
	}
	if len(labels) > 0 {
		sort.Strings(labels)
		warn = append(warn, fmt.Sprintf("labels %s from the data dropped; the zone has the request's", strings.Join(labels, ",")))
	}
	if fromData.Autostart && !granted.Autostart {
		warn = append(warn, "autostart from the data not applied")
	}
	if fromData.Pool != "" && fromData.Pool != granted.Pool {
		warn = append(warn, fmt.Sprintf("pool %q from the data not used", fromData.Pool))
	}
	if len(fromData.NICs) > 0 || len(fromData.DNS) > 0 {
		warn = append(warn, "NICs and DNS from the data not applied; the zone has the request's")
	}
	out.Labels = maps.Clone(granted.Labels)
	out.Devices = slices.Clone(granted.Devices)
	return out, warn
}
