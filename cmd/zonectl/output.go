package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

// Output formats of -o. "table" is the human view: a table for lists,
// aligned "key: value" lines for one object.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

// addOutputFlag gives a data command its -o flag.
func addOutputFlag(cmd *cobra.Command) *string {
	return cmd.Flags().StringP("output", "o", formatTable, "output format: table, json or yaml")
}

// checkFormat validates -o before any call to the daemon.
func checkFormat(f string) error {
	switch f {
	case formatTable, formatJSON, formatYAML:
		return nil
	}
	return usagef("invalid --output %q: use table, json or yaml", f)
}

// writeData writes v as JSON or YAML (field names are the API's in both,
// since sigs.k8s.io/yaml goes through the JSON tags), or calls human for
// the table view.
func writeData(w io.Writer, format string, v any, human func(io.Writer) error) error {
	switch format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return human(w)
}

// writeZoneTable writes the list view: one zone a line. stats holds the
// running zones' figures (CPU%; with wide also swap, disk, inodes,
// network and block IO); zones missing from it show "-".
func writeZoneTable(w io.Writer, zones []api.Zone, stats map[string]api.ZoneStats, wide bool) error {
	zones = append([]api.Zone(nil), zones...)
	sort.Slice(zones, func(i, j int) bool { return zones[i].Name < zones[j].Name })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "NAME\tSTATE\tPID\tTEMPLATE\tCPU%\tMEMORY\tPROCS"
	if wide {
		head += "\tSWAP\tDISK\tINODES\tNET RX/TX\tIO R/W"
	}
	fmt.Fprintln(tw, head)
	for _, z := range zones {
		pid, procs := "-", "-"
		if z.InitPID > 0 {
			pid = strconv.Itoa(z.InitPID)
		}
		if z.Usage != nil {
			procs = strconv.FormatUint(z.Usage.Processes, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", z.Name, z.State, pid, z.Template, cpuColumn(stats, z.Name), memoryColumn(z), procs)
		if wide {
			fmt.Fprint(tw, wideColumns(stats, z.Name))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// wideColumns are the list's wide columns of a zone, "-" where it has no
// figures (stopped).
func wideColumns(stats map[string]api.ZoneStats, zone string) string {
	s, ok := stats[zone]
	if !ok {
		return "\t-\t-\t-\t-\t-"
	}
	disk, inodes := "-", "-" // measured through a quota only (see writeZoneStats)
	if hasQuota(&s) {
		disk = size(s.DiskBytes) + "/" + limitText(s.DiskLimitBytes, true)
		inodes = strconv.FormatUint(s.DiskInodes, 10) + "/" + limitText(s.DiskLimitInodes, false)
	}
	return fmt.Sprintf("\t%s\t%s\t%s\t%s/%s\t%s/%s", size(s.SwapBytes), disk, inodes,
		size(s.NetRxBytes), size(s.NetTxBytes), size(s.IOReadBytes), size(s.IOWriteBytes))
}

// memoryColumn is "used/limit" for a zone with usage figures, "-" for one
// without (stopped). A zone without a memory limit shows "used/-".
func memoryColumn(z api.Zone) string {
	if z.Usage == nil {
		return "-"
	}
	used := units.FormatBytes(int64(z.Usage.MemoryBytes))
	limit := int64(z.Usage.MemoryLimitBytes)
	if limit == 0 {
		limit = z.Resources.MemoryBytes
	}
	if limit <= 0 {
		return used + "/-"
	}
	return used + "/" + units.FormatBytes(limit)
}

// kv writes aligned "key: value" lines.
type kv struct {
	tw *tabwriter.Writer
}

func newKV(w io.Writer) *kv { return &kv{tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)} }

func (k *kv) add(key string, value any) { fmt.Fprintf(k.tw, "%s:\t%v\n", key, value) }
func (k *kv) flush() error              { return k.tw.Flush() }

// writeZoneDetails writes the readable view of one zone.
func writeZoneDetails(w io.Writer, z *api.Zone) error {
	k := newKV(w)
	k.add("Name", z.Name)
	if z.UUID != "" {
		k.add("UUID", z.UUID)
	}
	state := string(z.State)
	if z.InitPID > 0 {
		state += fmt.Sprintf(" (init pid %d)", z.InitPID)
	}
	k.add("State", state)
	k.add("Template", z.Template)
	k.add("Hostname", orDash(z.Hostname))
	if m := z.IDMap; m != nil {
		k.add("User namespace", fmt.Sprintf("root is host ID %d (IDs 0-%d inside are host %d-%d)", m.HostID, m.Size-1, m.HostID, uint64(m.HostID)+uint64(m.Size)-1))
	}
	if len(z.Devices) > 0 {
		k.add("Devices", strings.Join(z.Devices, ", "))
	}
	k.add("Autostart", z.Autostart)
	if z.AutostartPriority != 0 || z.AutostartDelaySeconds != 0 {
		k.add("Autostart order", fmt.Sprintf("priority %d, then wait %ds", z.AutostartPriority, z.AutostartDelaySeconds))
	}
	k.add("Created", formatTime(z.CreatedAt))
	if z.StartedAt != nil && !z.StartedAt.IsZero() {
		k.add("Started", formatTime(*z.StartedAt))
	}
	if z.LastExit != "" {
		k.add("Last exit", z.LastExit)
	}
	for _, w := range z.Warnings {
		k.add("Warning", w)
	}
	r := z.Resources
	k.add("Memory limit", sizeOrUnlimited(r.MemoryBytes))
	k.add("Swap", sizeOrNone(r.SwapBytes, r.MemoryBytes))
	k.add("CPUs", orValue(r.CPUs, "all"))
	k.add("CPU limit", percentOrUnlimited(r.CPULimitPercent))
	k.add("CPU weight", weightOrDefault(r.CPUWeight))
	k.add("Max processes", countOrUnlimited(r.PidsMax))
	if r.DiskBytes > 0 {
		k.add("Disk quota", sizeOrUnlimited(r.DiskBytes))
	}
	if u := z.Usage; u != nil {
		k.add("Memory used", memoryColumn(*z))
		k.add("Processes", u.Processes)
		k.add("CPU time", (time.Duration(u.CPUNanos) * time.Nanosecond).Round(time.Millisecond))
	}
	if err := k.flush(); err != nil {
		return err
	}
	if z.Privileged {
		_, err := fmt.Fprintln(w, "WARNING: privileged zone: no user namespace, root inside is root on the host")
		return err
	}
	return nil
}

// writeTemplateTable writes the template list view.
func writeTemplateTable(w io.Writer, tpls []api.Template) error {
	tpls = append([]api.Template(nil), tpls...)
	sort.Slice(tpls, func(i, j int) bool { return tpls[i].Name < tpls[j].Name })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tSIZE\tZONES\tCREATED")
	for _, t := range tpls {
		src := t.Source
		if t.Suite != "" {
			src += " (" + t.Suite + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", t.Name, src, units.FormatBytes(t.SizeBytes), len(t.Zones), formatTime(t.CreatedAt))
	}
	return tw.Flush()
}

// writeTemplateDetails writes the readable view of one template.
func writeTemplateDetails(w io.Writer, t *api.Template) error {
	k := newKV(w)
	k.add("Name", t.Name)
	k.add("Source", t.Source)
	if t.Suite != "" {
		k.add("Suite", t.Suite)
	}
	if len(t.Include) > 0 {
		k.add("Include", strings.Join(t.Include, ", "))
	}
	k.add("Init", orDash(t.Init))
	k.add("Size", units.FormatBytes(t.SizeBytes))
	k.add("Created", formatTime(t.CreatedAt))
	k.add("Zones", orDash(strings.Join(t.Zones, ", ")))
	return k.flush()
}

// writeInfo writes the readable view of the daemon's info.
func writeInfo(w io.Writer, i *api.Info) error {
	k := newKV(w)
	k.add("Version", i.Version)
	k.add("API version", i.APIVersion)
	k.add("Kernel", i.Kernel)
	k.add("Cgroup mode", i.CgroupMode)
	k.add("Data directory", i.DataDir)
	k.add("Zones", fmt.Sprintf("%d (%d running)", i.Zones, i.Running))
	if i.HTTPSAddress != "" {
		k.add("HTTPS", i.HTTPSAddress)
		k.add("Server certificate", i.ServerFingerprint)
	}
	return k.flush()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func orDash(s string) string { return orValue(s, "-") }

func orValue(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sizeOrUnlimited(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return units.FormatBytes(n)
}

// sizeOrNone shows swap: with a memory limit and no swap given the zone
// gets none, without a memory limit swap is not capped either.
func sizeOrNone(swap, mem int64) string {
	switch {
	case swap > 0:
		return units.FormatBytes(swap)
	case mem > 0:
		return "none"
	}
	return "unlimited"
}

func percentOrUnlimited(p int64) string {
	if p <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d%%", p)
}

func weightOrDefault(w uint64) string {
	if w == 0 {
		return "default (100)"
	}
	return strconv.FormatUint(w, 10)
}

func countOrUnlimited(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}
