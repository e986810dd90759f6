package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

// limitFlags are the resource flags of create and set, kept as text until
// parsed so that "none" and units work and errors name the value.
type limitFlags struct {
	memory, swap, cpus, cpuLimit, cpuWeight, pids string
	disk, inodes                                  string
	autostart                                     bool
	autostartPriority                             int
	autostartDelay                                time.Duration
	io                                            ioFlags
}

func addLimitFlags(cmd *cobra.Command, l *limitFlags) {
	f := cmd.Flags()
	f.StringVar(&l.memory, "memory", "", "memory limit, binary units (512M, 1.5G); 0 or none for no limit")
	f.StringVar(&l.swap, "swap", "", "swap allowed on top of --memory (256M); with a memory limit and no swap, the zone gets none")
	f.StringVar(&l.cpus, "cpus", "", `host CPUs the zone may run on, cpuset list ("0-1,3"); none for all`)
	f.StringVar(&l.cpuLimit, "cpu-limit", "", "CPU cap as percent of one CPU (150%) or CPUs (1.5); 0 or none for no cap")
	f.StringVar(&l.cpuWeight, "cpu-weight", "", "share of CPU under contention, 1..10000 (default 100)")
	f.StringVar(&l.pids, "pids", "", "maximum number of processes; 0 or none for no limit")
	f.StringVar(&l.disk, "disk", "", "disk quota of the zone's own files, binary units (20G); set grows it live")
	f.StringVar(&l.inodes, "inodes", "", "maximum number of files and directories of the zone's own (with --disk)")
	f.BoolVar(&l.autostart, "autostart", false, "start the zone when zoned starts after a host boot")
	f.IntVar(&l.autostartPriority, "autostart-priority", 0, "autostart order, -1000..1000: higher starts first (and stops last at host shutdown)")
	f.DurationVar(&l.autostartDelay, "autostart-delay", 0, "after autostarting this zone, wait this long (5s) before the next priority group")
	addIOFlags(cmd, &l.io)
}

// autostartDelaySeconds turns --autostart-delay into whole seconds.
func (l *limitFlags) autostartDelaySeconds() (int, error) {
	if l.autostartDelay < 0 || l.autostartDelay%time.Second != 0 {
		return 0, usagef("--autostart-delay %s must be whole seconds, not negative", l.autostartDelay)
	}
	return int(l.autostartDelay / time.Second), nil
}

// noLimit says whether a flag value asks to remove a limit.
func noLimit(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "none", "unlimited":
		return true
	}
	return false
}

func parseSizeFlag(name, v string) (int64, error) {
	if noLimit(v) {
		return 0, nil
	}
	n, err := units.ParseBytes(v)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return n, nil
}

func parseCPULimitFlag(v string) (int64, error) {
	if noLimit(v) {
		return 0, nil
	}
	n, err := units.ParseCPULimit(v)
	if err != nil {
		return 0, usagef("--cpu-limit: %v", err)
	}
	return n, nil
}

func parseCPUWeightFlag(v string) (uint64, error) {
	if noLimit(v) || strings.EqualFold(strings.TrimSpace(v), "default") {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 || n > 10000 {
		return 0, usagef("--cpu-weight: invalid weight %q: expected 1..10000", v)
	}
	return n, nil
}

func parsePidsFlag(v string) (int64, error) { return parseCountFlag("pids", v) }

func parseCountFlag(name, v string) (int64, error) {
	if noLimit(v) {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, usagef("--%s: invalid count %q", name, v)
	}
	return n, nil
}

func parseCPUsFlag(v string) (string, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "none") || strings.EqualFold(v, "all") {
		return "", nil
	}
	if strings.Trim(v, "0123456789,-") != "" {
		return "", usagef("--cpus: invalid CPU list %q: expected a list such as 0-1,3", v)
	}
	return v, nil
}

// resources parses every limit flag, for create.
func (l *limitFlags) resources() (api.Resources, error) {
	var r api.Resources
	var err error
	if l.memory != "" {
		if r.MemoryBytes, err = parseSizeFlag("memory", l.memory); err != nil {
			return r, err
		}
	}
	if l.swap != "" {
		if r.SwapBytes, err = parseSizeFlag("swap", l.swap); err != nil {
			return r, err
		}
	}
	if l.cpus != "" {
		if r.CPUs, err = parseCPUsFlag(l.cpus); err != nil {
			return r, err
		}
	}
	if l.cpuLimit != "" {
		if r.CPULimitPercent, err = parseCPULimitFlag(l.cpuLimit); err != nil {
			return r, err
		}
	}
	if l.cpuWeight != "" {
		if r.CPUWeight, err = parseCPUWeightFlag(l.cpuWeight); err != nil {
			return r, err
		}
	}
	if l.pids != "" {
		if r.PidsMax, err = parsePidsFlag(l.pids); err != nil {
			return r, err
		}
	}
	if l.disk != "" {
		if r.DiskBytes, err = parseSizeFlag("disk", l.disk); err != nil {
			return r, err
		}
	}
	if l.inodes != "" {
		if r.DiskInodes, err = parseCountFlag("inodes", l.inodes); err != nil {
			return r, err
		}
	}
	return r, l.io.resources(&r)
}

// patch parses the limit flags given on the command line, and only those,
// for set: a flag not given leaves its limit alone.
func (l *limitFlags) patch(cmd *cobra.Command) (api.ZonePatch, error) {
	var p api.ZonePatch
	var rp api.ResourcesPatch
	changed := cmd.Flags().Changed
	some := false
	if changed("memory") {
		n, err := parseSizeFlag("memory", l.memory)
		if err != nil {
			return p, err
		}
		rp.MemoryBytes, some = &n, true
	}
	if changed("swap") {
		n, err := parseSizeFlag("swap", l.swap)
		if err != nil {
			return p, err
		}
		rp.SwapBytes, some = &n, true
	}
	if changed("cpus") {
		s, err := parseCPUsFlag(l.cpus)
		if err != nil {
			return p, err
		}
		rp.CPUs, some = &s, true
	}
	if changed("cpu-limit") {
		n, err := parseCPULimitFlag(l.cpuLimit)
		if err != nil {
			return p, err
		}
		rp.CPULimitPercent, some = &n, true
	}
	if changed("cpu-weight") {
		n, err := parseCPUWeightFlag(l.cpuWeight)
		if err != nil {
			return p, err
		}
		rp.CPUWeight, some = &n, true
	}
	if changed("pids") {
		n, err := parsePidsFlag(l.pids)
		if err != nil {
			return p, err
		}
		rp.PidsMax, some = &n, true
	}
	if changed("disk") {
		n, err := parseSizeFlag("disk", l.disk)
		if err != nil {
			return p, err
		}
		rp.DiskBytes, some = &n, true
	}
	if changed("inodes") {
		n, err := parseCountFlag("inodes", l.inodes)
		if err != nil {
			return p, err
		}
		rp.DiskInodes, some = &n, true
	}
	if err := l.io.patch(cmd, &rp, &some); err != nil {
		return p, err
	}
	if some {
		p.Resources = &rp
	}
	if changed("autostart") {
		b := l.autostart
		p.Autostart = &b
	}
	if changed("autostart-priority") {
		n := l.autostartPriority
		p.AutostartPriority = &n
	}
	if changed("autostart-delay") {
		n, err := l.autostartDelaySeconds()
		if err != nil {
			return p, err
		}
		p.AutostartDelaySeconds = &n
	}
	if p.Resources == nil && p.Autostart == nil && p.AutostartPriority == nil && p.AutostartDelaySeconds == nil && !changed("label") {
		return p, usagef("nothing to change: give at least one of --memory, --swap, --cpus, --cpu-limit, --cpu-weight, --pids, --io-*, --disk, --inodes, --autostart, --autostart-priority, --autostart-delay, --label")
	}
	return p, nil
}

// zoneResult prints the zone a lifecycle call answered with: a short
// sentence for people, the whole zone for -o json/yaml.
func zoneResult(w io.Writer, format string, z *api.Zone, sentence string) error {
	return writeData(w, format, z, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, sentence)
		return err
	})
}

func newCreateCmd(a *app) *cobra.Command {
	var l limitFlags
	var template, hostname string
	var privileged bool
	var devices, labelArgs []string
	var pool string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a zone from a template",
		Long: `Create a zone: its root filesystem from a template, its cgroup with the given
limits and its configuration. The zone is left stopped; start it with
"zonectl start". Sizes take binary units (K, M, G, T = powers of 1024).

Zones are unprivileged: root inside is a host ID of the zone's own range,
with no power on the host. --privileged makes a zone without a user
namespace, whose root is the host's root; use it only for guests you trust.`,
		Example: `  zonectl create web1
  zonectl create web1 --template debian12 --memory 1G --swap 512M --cpu-limit 150% --pids 1024 --autostart
  zonectl create vpn1 --device tun
  zonectl create web2 --label customer=c1042 --label plan=basic`,
		Args: needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	nicOpts := addCreateNICFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		res, delay, labels, err := l.grant(labelArgs)
		if err != nil {
			return err
		}
		req := api.CreateZoneRequest{
			Name: args[0], Template: template, Hostname: hostname, Resources: res, Autostart: l.autostart,
			AutostartPriority: l.autostartPriority, AutostartDelaySeconds: delay,
			Privileged: privileged, Devices: devices, Labels: labels,
			Pool: pool,
		}
		if err := nicOpts(&req); err != nil {
			return err
		}
		z, err := a.client().CreateZone(cmd.Context(), req)
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q created from template %q (%s)", z.Name, z.Template, z.State))
	}
	cmd.Flags().StringVar(&template, "template", "busybox", "template to create the zone from")
	cmd.Flags().StringVar(&hostname, "hostname", "", "host name inside the zone (default: the zone's name)")
	cmd.Flags().BoolVar(&privileged, "privileged", false, "no user namespace: root inside is root on the host (shown with a warning)")
	cmd.Flags().StringSliceVar(&devices, "device", nil, "optional host device to give the zone: tun (/dev/net/tun) or fuse (/dev/fuse); repeatable")
	cmd.Flags().StringArrayVarP(&labelArgs, "label", "l", nil, "label the zone KEY=VALUE (a customer, a plan); repeatable")
	cmd.Flags().StringVar(&pool, "pool", "", "storage pool for the zone's root (default: the data dir; see zonectl storage list)")
	addLimitFlags(cmd, &l)
	return cmd
}

func newStartCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "start NAME",
		Short:   "Start a zone",
		Long:    `Start a stopped zone: its init runs in new namespaces under the zone's limits.`,
		Example: `  zonectl start web1`,
		Args:    needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		z, err := a.client().StartZone(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q %s (init pid %d)", z.Name, z.State, z.InitPID))
	}
	return cmd
}

// stopFlags are shared by stop and restart.
type stopFlags struct {
	timeout time.Duration
	force   bool
}

func addStopFlags(cmd *cobra.Command, s *stopFlags) {
	cmd.Flags().DurationVar(&s.timeout, "timeout", 30*time.Second, "how long the zone's init gets to shut down before the zone is killed")
	cmd.Flags().BoolVar(&s.force, "force", false, "kill the zone at once, without asking its init")
}

func (s *stopFlags) request() (api.StopRequest, error) {
	if s.timeout < 0 {
		return api.StopRequest{}, usagef("--timeout must not be negative, got %s", s.timeout)
	}
	// Round up: a sub-second timeout must not become "the default".
	secs := int(math.Ceil(s.timeout.Seconds()))
	return api.StopRequest{TimeoutSeconds: secs, Force: s.force}, nil
}

func newStopCmd(a *app) *cobra.Command {
	var s stopFlags
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a zone",
		Long: `Stop a running zone: its init is asked to shut down (as a power button would)
and the zone is killed when it has not stopped after --timeout. --force kills it
at once.`,
		Example: `  zonectl stop web1
  zonectl stop web1 --timeout 10s
  zonectl stop web1 --force`,
		Args: needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	addStopFlags(cmd, &s)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		req, err := s.request()
		if err != nil {
			return err
		}
		z, err := a.client().StopZone(cmd.Context(), args[0], req)
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q %s", z.Name, z.State))
	}
	return cmd
}

func newRestartCmd(a *app) *cobra.Command {
	var s stopFlags
	cmd := &cobra.Command{
		Use:     "restart NAME",
		Short:   "Stop a zone and start it again",
		Long:    `Restart a zone: stop it as "zonectl stop" does, then start it.`,
		Example: `  zonectl restart web1 --timeout 10s`,
		Args:    needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	addStopFlags(cmd, &s)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		req, err := s.request()
		if err != nil {
			return err
		}
		z, err := a.client().RestartZone(cmd.Context(), args[0], req)
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q restarted (init pid %d)", z.Name, z.InitPID))
	}
	return cmd
}

func newDestroyCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "destroy NAME",
		Short: "Destroy a zone and its files",
		Long: `Destroy a zone: its root filesystem, cgroup, network and record go away.
A running zone is only destroyed with --force, which kills it first.`,
		Example: `  zonectl destroy web1
  zonectl destroy web1 --force`,
		Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.client().DestroyZone(cmd.Context(), args[0], force); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.stdout, "zone %q destroyed\n", args[0])
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "kill the zone first if it runs")
	return cmd
}

func newListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List zones",
		Long: `List every zone with its state, init PID, template, CPU %, memory in use
against its limit and number of processes; --wide adds swap, disk and inodes
against the quota, network received/sent and block IO read/written. Stopped
zones show "-" for usage.`,
		Example: `  zonectl list
  zonectl list --wide
  zonectl list --state running --template busybox
  zonectl list --label customer=c1042
  zonectl list -o json`,
		Args: needArgs(),
	}
	out := addOutputFlag(cmd)
	var state, template string
	labelArgs := addLabelFlag(cmd, "only zones labelled KEY=VALUE; repeat to require several")
	cmd.Flags().StringVar(&state, "state", "", "only zones in this state (running, stopped, ...)")
	cmd.Flags().StringVar(&template, "template", "", "only zones made from this template")
	wide := cmd.Flags().BoolP("wide", "w", false, "also swap, disk, inodes, network and block IO of running zones")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		labels, _, err := parseLabels(*labelArgs, false)
		if err != nil {
			return err
		}
		zones, _, err := a.client().ListZonesPage(cmd.Context(), api.ZoneListOptions{State: api.ZoneState(state), Template: template, Labels: labels})
		if err != nil {
			return err
		}
		if zones == nil {
			zones = []api.Zone{} // "[]", not "null", for scripts
		}
		return writeData(a.stdout, *out, zones, func(w io.Writer) error { return writeZoneTable(w, zones, a.runningStats(cmd.Context(), zones), *wide) })
	}
	return cmd
}

func newShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a zone's configuration, limits and usage",
		Long: `Show one zone. The default view is for people; -o json or -o yaml gives the
whole API object, including the zone's OCI runtime spec.`,
		Example: `  zonectl show web1
  zonectl show web1 -o json`,
		Args: needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		z, err := a.client().GetZone(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, z, func(w io.Writer) error { return writeZoneDetails(w, z) })
	}
	return cmd
}

func newSetCmd(a *app) *cobra.Command {
	var l limitFlags
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change a zone's limits, autostart or labels",
		Long: `Change a zone's limits; a running zone gets them at once. Only the flags
given change anything. "0", "none" or "unlimited" removes a limit.`,
		Example: `  zonectl set web1 --memory 2G --swap 1G
  zonectl set web1 --cpu-limit 200% --cpus 0-1
  zonectl set web1 --pids none --autostart=false
  zonectl set web1 --label plan=pro --label trial-`,
		Args: needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	addLimitFlags(cmd, &l)
	labelArgs := addLabelFlag(cmd, "set label KEY=VALUE, or remove it with KEY-; repeatable")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		p, err := l.patch(cmd)
		if err != nil {
			return err
		}
		var z *api.Zone
		if len(*labelArgs) > 0 {
			z, err = setLabels(cmd, a.client(), args[0], p, *labelArgs)
		} else {
			z, err = a.client().UpdateZone(cmd.Context(), args[0], p)
		}
		if err != nil {
			return err
		}
		return zoneResult(a.stdout, *out, z, fmt.Sprintf("zone %q updated", z.Name))
	}
	return cmd
}

func newConsoleLogCmd(a *app) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "console-log NAME",
		Short: "Print what a zone's init wrote to its console",
		Long: `Print the zone's console log: the output of its init, useful when a zone does not boot.
On a terminal, control characters the zone wrote are shown (ESC as ^[) rather
than obeyed, so a zone cannot drive the operator's terminal; --raw prints them
as they are. Pipes and files always get the bytes unchanged.`,
		Example: `  zonectl console-log web1 | tail`,
		Args:    needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := a.client().ConsoleLog(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, tty := terminalFd(a.stdout); tty && !raw {
				err = copyForTerminal(a.stdout, rc)
			} else {
				_, err = io.Copy(a.stdout, rc)
			}
			if err != nil {
				return fmt.Errorf("read console log of zone %q: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print control characters as they are, even on a terminal")
	return cmd
}

func newInfoCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "info",
		Short:   "Show the daemon's version and host",
		Long:    `Show zoned's version, the host's kernel and cgroup mode, its data directory and zone counts.`,
		Example: `  zonectl info`,
		Args:    needArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		info, err := a.client().Info(cmd.Context())
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, info, func(w io.Writer) error { return writeInfo(w, info) })
	}
	return cmd
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show zonectl's and zoned's versions",
		Long: `Show zonectl's version, then the daemon's; fails when the daemon cannot be
reached, after printing zonectl's own.`,
		Example: `  zonectl version`,
		Args:    needArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "zonectl version %s (API %s)\n", version, api.Version)
			info, err := a.client().Info(cmd.Context())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "zoned version %s (API %s)\n", info.Version, info.APIVersion)
			return err
		},
	}
}
