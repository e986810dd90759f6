package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/internal/units"
)

// groupCmd is a command that only holds subcommands.
func groupCmd(use, short, long, example string, aliases []string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example, Aliases: aliases,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// newNetworkCmds are the networking commands: network, nic, port-forward.
func newNetworkCmds(a *app) []*cobra.Command {
	return []*cobra.Command{
		groupCmd("network", "Manage networks zones attach to",
			`Manage networks: host bridges (with optional NAT and VLAN filtering), macvlan
parents and VXLAN segments. zoned recreates them when it starts.`,
			`  zonectl network create lan --type bridge --subnet 10.20.0.0/24 --nat
  zonectl network create pub --type macvlan --parent eth0
  zonectl network create overlay --type vxlan --vni 42 --remote 192.0.2.7 --dev eth0`,
			[]string{"networks", "net"},
			newNetworkCreateCmd(a), newNetworkListCmd(a), newNetworkShowCmd(a), newNetworkDeleteCmd(a)),
		groupCmd("nic", "Manage a zone's network interfaces",
			`Add, remove, list and change a zone's NICs; a running zone sees the change at once.`,
			`  zonectl nic add web1 --network lan --ip auto --rate 100mbit
  zonectl nic set web1 eth0 --rate 1gbit
  zonectl nic remove web1 eth1`,
			[]string{"nics"},
			newNICAddCmd(a), newNICRemoveCmd(a), newNICListCmd(a), newNICSetCmd(a)),
		groupCmd("port-forward", "Forward host ports into zones",
			`Forward a port of the host to a port of a zone (DNAT to the zone's first IPv4 address).`,
			`  zonectl port-forward add web1 8080 80
  zonectl port-forward add dns1 5353 53 udp
  zonectl port-forward remove web1 8080`,
			[]string{"port-forwards", "pf"},
			newPFAddCmd(a), newPFListCmd(a), newPFRemoveCmd(a)),
	}
}

func newNetworkCreateCmd(a *app) *cobra.Command {
	var n api.Network
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a network",
		Long: `Create a network. bridge (default): a host bridge holding the gateway address,
with --nat to masquerade the subnet's traffic leaving the host and
--vlan-filtering for NICs with --vlan. macvlan: NICs sit on --parent.
vxlan: a bridge with a VXLAN port (--vni, --remote or --group, --dev).`,
		Example: `  zonectl network create lan --subnet 10.20.0.0/24 --nat --dns 10.20.0.1`,
		Args:    needArgs("NAME"),
	}
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&n.Type, "type", "bridge", "bridge, macvlan or vxlan")
	f.StringVar(&n.Subnet, "subnet", "", "IPv4 subnet, like 10.20.0.0/24 (for --ip auto)")
	f.StringVar(&n.Gateway, "gateway", "", "default gateway of the NICs (bridge default: the subnet's first address)")
	f.BoolVar(&n.NAT, "nat", false, "masquerade the subnet's traffic leaving the host (bridge)")
	f.BoolVar(&n.VLANFiltering, "vlan-filtering", false, "bridge VLAN filtering, for NICs with --vlan")
	f.StringVar(&n.Uplink, "uplink", "", "host interface to add to the bridge")
	f.StringVar(&n.Parent, "parent", "", "host interface macvlan NICs sit on")
	f.IntVar(&n.VNI, "vni", 0, "VXLAN network identifier")
	f.StringVar(&n.Remote, "remote", "", "VXLAN unicast peer")
	f.StringVar(&n.Group, "group", "", "VXLAN multicast group")
	f.StringVar(&n.Dev, "dev", "", "VXLAN underlay interface")
	f.StringSliceVar(&n.DNS, "dns", nil, "nameservers for zones' /etc/resolv.conf")
	f.IntVar(&n.MTU, "mtu", 0, "MTU of the bridge")
	f.StringVar(&n.HostAccess, "host-access", "", "what zones may reach on the host: none (default), all, or ports like tcp:53,udp:53")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		n.Name = args[0]
		nw, err := a.client().CreateNetwork(cmd.Context(), n)
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, nw, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "network %q created (%s)\n", nw.Name, nw.Type)
			return err
		})
	}
	return cmd
}

func newNetworkListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List networks", Long: `List every network with its type, subnet, gateway, NAT, host device and how many NICs use it.`, Example: `  zonectl network list
  zonectl network list -o json`, Args: needArgs()}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		nets, err := a.client().ListNetworks(cmd.Context())
		if err != nil {
			return err
		}
		if nets == nil {
			nets = []api.Network{}
		}
		return writeData(a.stdout, *out, nets, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tSUBNET\tGATEWAY\tNAT\tDEVICE\tNICS")
			for _, n := range nets {
				dev := n.Bridge
				if n.Type == api.NetworkMacvlan {
					dev = n.Parent
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%d\n", n.Name, n.Type, dash(n.Subnet), dash(n.Gateway), n.NAT, dash(dev), len(n.UsedBy))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newNetworkShowCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "show NAME", Short: "Show a network and the NICs on it", Long: `Show one network: its settings, the host device zoned made for it and the zone NICs on it.`, Example: `  zonectl network show lan`, Args: needArgs("NAME")}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		n, err := a.client().GetNetwork(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, n, func(w io.Writer) error {
			k := newKV(w)
			k.add("Name", n.Name)
			k.add("Type", n.Type)
			for _, f := range [][2]string{{"Subnet", n.Subnet}, {"Gateway", n.Gateway}, {"Bridge", n.Bridge}, {"Uplink", n.Uplink}, {"Parent", n.Parent}, {"Remote", n.Remote}, {"Group", n.Group}, {"Dev", n.Dev}} {
				if f[1] != "" {
					k.add(f[0], f[1])
				}
			}
			if n.VNI > 0 {
				k.add("VNI", n.VNI)
			}
			k.add("NAT", n.NAT)
			k.add("VLAN filtering", n.VLANFiltering)
			if len(n.DNS) > 0 {
				k.add("DNS", strings.Join(n.DNS, ", "))
			}
			k.add("Used by", dash(strings.Join(n.UsedBy, ", ")))
			return k.flush()
		})
	}
	return cmd
}

func newNetworkDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete a network no NIC uses", Long: `Delete a network and its host devices. Refused while any zone has a NIC on it.`, Example: `  zonectl network delete lan`, Args: needArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.client().DeleteNetwork(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.stdout, "network %q deleted\n", args[0])
			return err
		},
	}
}

// nicFlags are the flags describing one NIC, shared by "nic add".
type nicFlags struct {
	req  api.NICRequest
	ip   []string
	rate string
}

func (nf *nicFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&nf.req.Network, "network", "", "network to attach the NIC to (required)")
	f.StringVar(&nf.req.Name, "name", "", "interface name in the zone (default: next free ethN)")
	f.StringSliceVar(&nf.ip, "ip", nil, "IPv4 address in CIDR form, or auto for the next free one; repeatable")
	f.StringSliceVar(&nf.req.IPv6, "ip6", nil, "IPv6 address in CIDR form; repeatable")
	f.StringVar(&nf.req.Gateway, "gateway", "", "default gateway (default: the network's, for the first NIC)")
	f.StringVar(&nf.req.MAC, "mac", "", "MAC address (default: stable, derived from the zone and NIC)")
	f.IntVar(&nf.req.MTU, "mtu", 0, "MTU")
	f.IntVar(&nf.req.VLAN, "vlan", 0, "802.1Q VLAN ID (1-4094)")
	f.StringVar(&nf.rate, "rate", "", "cap each way, like 100mbit or 1gbit")
}

func (nf *nicFlags) request() (api.NICRequest, error) {
	r := nf.req
	r.IPv4 = nf.ip
	if nf.rate != "" {
		bps, err := units.ParseRate(nf.rate)
		if err != nil {
			return r, usagef("--rate: %v", err)
		}
		r.RateBitsPerSecond = bps
	}
	if r.Network == "" {
		return r, usagef("--network is required")
	}
	return r, nil
}

// parseNICSpec reads create's --nic network=N,ip=auto,ip6=…,mac=…,rate=…
func parseNICSpec(spec string) (api.NICRequest, error) {
	var r api.NICRequest
	for _, kv := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return r, usagef("--nic %q: %q is not key=value", spec, kv)
		}
		var err error
		switch k {
		case "network":
			r.Network = v
		case "name":
			r.Name = v
		case "ip":
			r.IPv4 = append(r.IPv4, v)
		case "ip6":
			r.IPv6 = append(r.IPv6, v)
		case "gateway":
			r.Gateway = v
		case "mac":
			r.MAC = v
		case "mtu":
			r.MTU, err = strconv.Atoi(v)
		case "vlan":
			r.VLAN, err = strconv.Atoi(v)
		case "rate":
			r.RateBitsPerSecond, err = units.ParseRate(v)
		default:
			return r, usagef("--nic %q: unknown key %q (network, name, ip, ip6, gateway, mac, mtu, vlan, rate)", spec, k)
		}
		if err != nil {
			return r, usagef("--nic %q: %s: %v", spec, k, err)
		}
	}
	if r.Network == "" {
		return r, usagef("--nic %q: network= is required", spec)
	}
	return r, nil
}

// addCreateNICFlags adds create's --nic and --dns; the returned function
// fills the request from them.
func addCreateNICFlags(cmd *cobra.Command) func(*api.CreateZoneRequest) error {
	var specs, dns []string
	cmd.Flags().StringArrayVar(&specs, "nic", nil, "a NIC: network=N[,ip=auto|CIDR][,ip6=CIDR][,mac=M][,rate=100mbit][,vlan=ID][,name=eth0]; repeatable")
	cmd.Flags().StringSliceVar(&dns, "dns", nil, "nameservers for /etc/resolv.conf (default: the first NIC's network's)")
	return func(req *api.CreateZoneRequest) error {
		for _, s := range specs {
			r, err := parseNICSpec(s)
			if err != nil {
				return err
			}
			req.NICs = append(req.NICs, r)
		}
		req.DNS = dns
		return nil
	}
}

func writeNICs(w io.Writer, nics []api.NIC) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNETWORK\tMAC\tIPV4\tIPV6\tGATEWAY\tVLAN\tRATE\tHOST")
	for _, n := range nics {
		vlan := "-"
		if n.VLAN > 0 {
			vlan = strconv.Itoa(n.VLAN)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Network, n.MAC, dash(strings.Join(n.IPv4, ",")),
			dash(strings.Join(n.IPv6, ",")), dash(n.Gateway), vlan, dash(units.FormatRate(n.RateBitsPerSecond)), dash(n.HostIfName))
	}
	return tw.Flush()
}

func newNICAddCmd(a *app) *cobra.Command {
	var nf nicFlags
	cmd := &cobra.Command{
		Use: "add ZONE", Short: "Add a NIC to a zone (live if it runs)", Long: `Add a NIC to a zone. A running zone gets it at once, configured (addresses,
default route) with anti-spoofing rules and its rate cap.`, Args: needArgs("ZONE"),
		Example: `  zonectl nic add web1 --network lan --ip auto
  zonectl nic add web1 --network lan --ip 10.20.0.5/24 --rate 100mbit`,
	}
	nf.add(cmd)
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		req, err := nf.request()
		if err != nil {
			return err
		}
		nic, err := a.client().AddNIC(cmd.Context(), args[0], req)
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, nic, func(w io.Writer) error { return writeNICs(w, []api.NIC{*nic}) })
	}
	return cmd
}

func newNICRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "remove ZONE NIC", Aliases: []string{"rm"}, Short: "Remove a NIC from a zone (live if it runs)", Long: `Remove a NIC: from a running zone at once, with its rules and caps.`, Example: `  zonectl nic remove web1 eth1`, Args: needArgs("ZONE", "NIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.client().RemoveNIC(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			_, err := fmt.Fprintf(a.stdout, "nic %s removed from zone %q\n", args[1], args[0])
			return err
		},
	}
}

func newNICListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "list ZONE", Aliases: []string{"ls"}, Short: "List a zone's NICs", Long: `List a zone's NICs with their addresses, MAC, VLAN, rate cap and host interface.`, Example: `  zonectl nic list web1`, Args: needArgs("ZONE")}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		nics, err := a.client().ListNICs(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if nics == nil {
			nics = []api.NIC{}
		}
		return writeData(a.stdout, *out, nics, func(w io.Writer) error { return writeNICs(w, nics) })
	}
	return cmd
}

func newNICSetCmd(a *app) *cobra.Command {
	var rate string
	cmd := &cobra.Command{
		Use: "set ZONE NIC --rate RATE", Short: "Change a NIC's rate cap (live)", Long: `Change a NIC's rate cap, each way; a running zone's cap changes at once.`, Args: needArgs("ZONE", "NIC"),
		Example: `  zonectl nic set web1 eth0 --rate 1gbit
  zonectl nic set web1 eth0 --rate 0     # no cap`,
	}
	cmd.Flags().StringVar(&rate, "rate", "", "cap each way, like 100mbit; 0 removes it")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		if rate == "" {
			return usagef("nothing to set: give --rate")
		}
		var bps int64
		if rate != "0" {
			var err error
			if bps, err = units.ParseRate(rate); err != nil {
				return usagef("--rate: %v", err)
			}
		}
		nic, err := a.client().SetNIC(cmd.Context(), args[0], args[1], api.NICPatch{RateBitsPerSecond: &bps})
		if err != nil {
			return err
		}
		return writeData(a.stdout, *out, nic, func(w io.Writer) error { return writeNICs(w, []api.NIC{*nic}) })
	}
	return cmd
}

func newPFAddCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use: "add ZONE HOSTPORT ZONEPORT [tcp|udp]", Short: "Forward a host port into a zone", Long: `Forward a host port (tcp by default) to a port of the zone's first IPv4 address.`, Example: `  zonectl port-forward add web1 8080 80
  zonectl port-forward add dns1 5353 53 udp`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 || len(args) > 4 {
				return usagef("%q needs ZONE HOSTPORT ZONEPORT [tcp|udp]", cmd.CommandPath())
			}
			return nil
		},
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		hp, err1 := strconv.Atoi(args[1])
		zp, err2 := strconv.Atoi(args[2])
		if err1 != nil || err2 != nil {
			return usagef("ports must be numbers, got %q and %q", args[1], args[2])
		}
		pf := api.PortForward{HostPort: hp, ZonePort: zp}
		if len(args) == 4 {
			pf.Protocol = args[3]
		}
		out, err := a.client().AddPortForward(cmd.Context(), args[0], pf)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "host %s port %d forwarded to zone %q (%s:%d)\n", out.Protocol, out.HostPort, out.Zone, out.Address, out.ZonePort)
		return err
	}
	return cmd
}

func newPFListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "list ZONE", Aliases: []string{"ls"}, Short: "List a zone's port forwards", Long: `List the host ports forwarded into a zone.`, Example: `  zonectl port-forward list web1`, Args: needArgs("ZONE")}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkFormat(*out); err != nil {
			return err
		}
		fwds, err := a.client().ListPortForwards(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if fwds == nil {
			fwds = []api.PortForward{}
		}
		return writeData(a.stdout, *out, fwds, func(w io.Writer) error {
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "PROTOCOL\tHOST PORT\tZONE ADDRESS\tZONE PORT")
			for _, f := range fwds {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", f.Protocol, f.HostPort, dash(f.Address), f.ZonePort)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newPFRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "remove ZONE HOSTPORT [tcp|udp]", Aliases: []string{"rm"}, Short: "Stop forwarding a host port", Long: `Stop forwarding a host port into the zone.`, Example: `  zonectl port-forward remove web1 8080`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usagef("%q needs ZONE HOSTPORT [tcp|udp]", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			hp, err := strconv.Atoi(args[1])
			if err != nil {
				return usagef("host port %q is not a number", args[1])
			}
			proto := ""
			if len(args) == 3 {
				proto = args[2]
			}
			if err := a.client().RemovePortForward(cmd.Context(), args[0], hp, proto); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "port forward %d of zone %q removed\n", hp, args[0])
			return err
		},
	}
}
