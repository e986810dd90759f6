package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

// ioFlags are the block IO flags of create and set.
type ioFlags struct {
	weight, readBPS, writeBPS, readIOPS, writeIOPS string
}

func addIOFlags(cmd *cobra.Command, l *ioFlags) {
	f := cmd.Flags()
	f.StringVar(&l.weight, "io-weight", "", "share of block IO under contention, 1..10000 (default 100)")
	f.StringVar(&l.readBPS, "io-read-bps", "", "cap on reads from the disk under the zone's root, bytes per second (10M); 0 or none for no cap")
	f.StringVar(&l.writeBPS, "io-write-bps", "", "cap on writes to the disk under the zone's root, bytes per second (10M); 0 or none for no cap")
	f.StringVar(&l.readIOPS, "io-read-iops", "", "cap on read operations per second; 0 or none for no cap")
	f.StringVar(&l.writeIOPS, "io-write-iops", "", "cap on write operations per second; 0 or none for no cap")
}

// ioFlag is one IO flag: its name, its text and how it reads.
type ioFlag struct {
	name  string
	value string
	parse func(name, v string) (int64, error)
}

func (l *ioFlags) list() []ioFlag {
	return []ioFlag{
		{"io-weight", l.weight, parseIOWeightFlag},
		{"io-read-bps", l.readBPS, parseSizeFlag},
		{"io-write-bps", l.writeBPS, parseSizeFlag},
		{"io-read-iops", l.readIOPS, parseCountFlag},
		{"io-write-iops", l.writeIOPS, parseCountFlag},
	}
}

func parseIOWeightFlag(name, v string) (int64, error) {
	if noLimit(v) || strings.EqualFold(strings.TrimSpace(v), "default") {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 || n > 10000 {
		return 0, usagef("--%s: invalid weight %q: expected 1..10000", name, v)
	}
	return n, nil
}

// values parses the flags; only those given when changed is not nil.
func (l *ioFlags) values(changed func(string) bool) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range l.list() {
		if (changed == nil && f.value == "") || (changed != nil && !changed(f.name)) {
			continue
		}
		n, err := f.parse(f.name, f.value)
		if err != nil {
			return nil, err
		}
		out[f.name] = n
	}
	return out, nil
}

// resources sets r's IO fields from the flags given, for create.
func (l *ioFlags) resources(r *api.Resources) error {
	v, err := l.values(nil)
	if err != nil {
		return err
	}
	r.IOWeight = uint64(v["io-weight"])
	r.IOReadBPS, r.IOWriteBPS = v["io-read-bps"], v["io-write-bps"]
	r.IOReadIOPS, r.IOWriteIOPS = v["io-read-iops"], v["io-write-iops"]
	return nil
}

// patch sets rp's IO fields for the flags given, for set.
func (l *ioFlags) patch(cmd *cobra.Command, rp *api.ResourcesPatch, some *bool) error {
	v, err := l.values(cmd.Flags().Changed)
	if err != nil {
		return err
	}
	for name, n := range v {
		n := n
		*some = true
		switch name {
		case "io-weight":
			w := uint64(n)
			rp.IOWeight = &w
		case "io-read-bps":
			rp.IOReadBPS = &n
		case "io-write-bps":
			rp.IOWriteBPS = &n
		case "io-read-iops":
			rp.IOReadIOPS = &n
		case "io-write-iops":
			rp.IOWriteIOPS = &n
		}
	}
	return nil
}

// runningStats asks for every running zone's stats, for the list's CPU%
// column and wide view. The list works without them: a failure gives no
// figures.
func (a *app) runningStats(ctx context.Context, zones []api.Zone) map[string]api.ZoneStats {
	running := false
	for _, z := range zones {
		running = running || z.State == api.StateRunning
	}
	if !running {
		return nil
	}
	st, err := a.client().AllStats(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]api.ZoneStats, len(st))
	for _, s := range st {
		out[s.Name] = s
	}
	return out
}

func cpuColumn(stats map[string]api.ZoneStats, zone string) string {
	s, ok := stats[zone]
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(s.CPUPercent, 'f', 1, 64)
}

func newStatsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats [NAME]",
		Short: "Show zones' usage and how often they hit their limits",
		Long: `Show what a running zone uses (CPU, memory, swap, processes, network, block
IO, disk) against its limits, and for each limit a fail counter, as OpenVZ's
user_beancounters: memory limit hits and OOM kills, refused forks, CPU
throttling, disk quota hits. Without NAME, one line per running zone.

CPU % is averaged since the previous stats read of the zone (or since it
started), so two reads a few seconds apart show current load.`,
		Example: `  zonectl stats web1
  zonectl stats
  zonectl stats web1 -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%q takes at most NAME, got extra argument %q", cmd.CommandPath(), args[1])
			}
			return nil
		},
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		if len(args) == 1 {
			st, err := a.client().ZoneStats(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeData(a.stdout, *out, st, func(w io.Writer) error { return writeZoneStats(w, st) })
		}
		all, err := a.client().AllStats(cmd.Context())
		if err != nil {
			return err
		}
		if all == nil {
			all = []api.ZoneStats{}
		}
		return writeData(a.stdout, *out, all, func(w io.Writer) error { return writeStatsTable(w, all) })
	}
	return cmd
}

// limitText is a limit for people: "-" for none.
func limitText(n uint64, size bool) string {
	switch {
	case n == 0:
		return "-"
	case size:
		return units.FormatBytes(int64(n))
	}
	return strconv.FormatUint(n, 10)
}

func size(n uint64) string { return units.FormatBytes(int64(n)) }

// writeZoneStats writes one zone's stats as a beancounter table: each
// resource with its use, limit and fail count.
func writeZoneStats(w io.Writer, s *api.ZoneStats) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	f := s.Fails
	fmt.Fprintf(tw, "zone %s (%s) at %s\n", s.Name, s.State, s.Time.Local().Format(time.DateTime))
	fmt.Fprintln(tw, "RESOURCE\tUSED\tLIMIT\tFAILS")
	fmt.Fprintf(tw, "cpu\t%.1f%% (%s total)\t-\t%d throttled periods (%s)\n", s.CPUPercent,
		time.Duration(s.CPUNanos).Round(time.Millisecond), f.CPUThrottledPeriods, time.Duration(f.CPUThrottledNanos).Round(time.Millisecond))
	fmt.Fprintf(tw, "memory\t%s\t%s\t%d (OOM kills %d)\n", size(s.MemoryBytes), limitText(s.MemoryLimitBytes, true), f.Memory, f.OOMKills)
	fmt.Fprintf(tw, "swap\t%s\t-\t-\n", size(s.SwapBytes))
	fmt.Fprintf(tw, "processes\t%d\t%s\t%d refused forks\n", s.Processes, limitText(s.ProcessesLimit, false), f.Forks)
	// The daemon measures disk use through the quota: without one the
	// use is unknown here (zonectl df walks the layer), not 0.
	diskUsed, inodesUsed := "-", "-"
	if hasQuota(s) {
		diskUsed, inodesUsed = size(s.DiskBytes), strconv.FormatUint(s.DiskInodes, 10)
	}
	fmt.Fprintf(tw, "disk\t%s\t%s\t%s\n", diskUsed, limitText(s.DiskLimitBytes, true), quotaFails(s))
	fmt.Fprintf(tw, "inodes\t%s\t%s\t-\n", inodesUsed, limitText(s.DiskLimitInodes, false))
	fmt.Fprintf(tw, "net rx\t%s (%d packets)\t-\t-\n", size(s.NetRxBytes), s.NetRxPackets)
	fmt.Fprintf(tw, "net tx\t%s (%d packets)\t-\t-\n", size(s.NetTxBytes), s.NetTxPackets)
	fmt.Fprintf(tw, "io read\t%s (%d ops)\t-\t-\n", size(s.IOReadBytes), s.IOReadOps)
	fmt.Fprintf(tw, "io write\t%s (%d ops)\t-\t-\n", size(s.IOWriteBytes), s.IOWriteOps)
	return tw.Flush()
}

// hasQuota tells whether the zone's disk has a quota, which its stats'
// disk figures come from.
func hasQuota(s *api.ZoneStats) bool {
	return s.DiskLimitBytes > 0 || s.DiskLimitInodes > 0 || s.DiskBytes > 0 || s.Fails.Quota > 0
}

// quotaFails is the disk quota's fail count, "-" for a zone without a
// quota.
func quotaFails(s *api.ZoneStats) string {
	if hasQuota(s) {
		return strconv.FormatUint(s.Fails.Quota, 10)
	}
	return "-"
}

// writeStatsTable writes one line per running zone.
func writeStatsTable(w io.Writer, all []api.ZoneStats) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU%\tMEMORY\tPROCS\tNET RX/TX\tIO R/W\tMEM FAILS\tOOM\tFORK FAILS\tTHROTTLED\tQUOTA FAILS")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%.1f\t%s/%s\t%d\t%s/%s\t%s/%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.CPUPercent,
			size(s.MemoryBytes), limitText(s.MemoryLimitBytes, true), s.Processes,
			size(s.NetRxBytes), size(s.NetTxBytes), size(s.IOReadBytes), size(s.IOWriteBytes),
			s.Fails.Memory, s.Fails.OOMKills, s.Fails.Forks, s.Fails.CPUThrottledPeriods, quotaFails(&s))
	}
	return tw.Flush()
}
