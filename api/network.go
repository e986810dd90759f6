package api

// NICRequest asks for a network interface in a zone: on create
// (CreateZoneRequest.NICs) or on a zone that exists (POST
// /v1/zones/{name}/nics).
type NICRequest struct {
	// Name is the interface's name inside the zone; "" means the next
	// free ethN.
	Name string `json:"name,omitempty"`
	// Network is the network (a store object) the NIC is attached to.
	Network string `json:"network"`
	// IPv4 and IPv6 are addresses in CIDR form ("10.20.0.5/24"); "auto"
	// takes the next free address of the network's subnet.
	IPv4    []string `json:"ipv4,omitempty"`
	IPv6    []string `json:"ipv6,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
	// MAC is the interface's address; "" derives a stable one from the
	// zone's UUID and the NIC's name.
	MAC string `json:"mac,omitempty"`
	MTU int    `json:"mtu,omitempty"`
	// VLAN is the 802.1Q VLAN ID (1..4094) the NIC is on.
	VLAN int `json:"vlan,omitempty"`
	// RateBitsPerSecond caps traffic into and out of the zone on this NIC.
	RateBitsPerSecond int64 `json:"rate_bps,omitempty"`
}

// NIC is a zone's network interface as configured.
type NIC struct {
	Name              string   `json:"name"`
	Network           string   `json:"network"`
	IPv4              []string `json:"ipv4,omitempty"`
	IPv6              []string `json:"ipv6,omitempty"`
	Gateway           string   `json:"gateway,omitempty"`
	MAC               string   `json:"mac"`
	MTU               int      `json:"mtu,omitempty"`
	VLAN              int      `json:"vlan,omitempty"`
	RateBitsPerSecond int64    `json:"rate_bps,omitempty"`
	// HostIfName is the host side of the NIC (a veth peer, zv…).
	HostIfName string `json:"host_ifname,omitempty"`
	// Pending is "adding" or "removing" while a NIC change on a running
	// zone is under way: the change is recorded before the host is
	// touched, so a daemon killed half way finishes (a remove) or undoes
	// (an add) it when it starts again. "" otherwise.
	Pending string `json:"pending,omitempty"`
}

// Network types.
const (
	NetworkBridge  = "bridge"
	NetworkMacvlan = "macvlan"
	NetworkVXLAN   = "vxlan"
)

// Network is a network zones' NICs attach to: a bridge zoned makes (with
// optional NAT and VLAN filtering), a macvlan parent, or a VXLAN segment
// (a bridge with a VXLAN port). It is the body of POST /v1/networks and
// what GET returns.
type Network struct {
	Name string `json:"name"`
	// Type is bridge (default), macvlan or vxlan.
	Type string `json:"type,omitempty"`
	// Subnet is the IPv4 subnet of the network ("10.20.0.0/24"), from
	// which "auto" addresses come. Subnets of two networks never overlap.
	Subnet string `json:"subnet,omitempty"`
	// Gateway is the default route given to NICs; on a bridge network
	// the bridge holds this address. "" on a bridge with a subnet means
	// the subnet's first address.
	Gateway string `json:"gateway,omitempty"`
	// NAT masquerades traffic from the subnet that leaves the host
	// through any interface but the bridge (bridge only).
	NAT bool `json:"nat,omitempty"`
	// VLANFiltering turns on bridge VLAN filtering, so NICs with a VLAN
	// get it as their port's untagged PVID; Uplink is a host interface
	// enslaved to the bridge, carrying the VLANs tagged.
	VLANFiltering bool   `json:"vlan_filtering,omitempty"`
	Uplink        string `json:"uplink,omitempty"`
	// Parent is the host interface macvlan NICs sit on.
	Parent string `json:"parent,omitempty"`
	// VNI, Remote (unicast peer) or Group (multicast group) and Dev (the
	// underlay interface) describe a VXLAN network.
	VNI    int    `json:"vni,omitempty"`
	Remote string `json:"remote,omitempty"`
	Group  string `json:"group,omitempty"`
	Dev    string `json:"dev,omitempty"`
	// DNS are the nameservers written to zones' /etc/resolv.conf when
	// the zone names none.
	DNS []string `json:"dns,omitempty"`
	MTU int      `json:"mtu,omitempty"`
	// HostAccess is what zones on a bridge or vxlan network may reach on
	// the host itself: "none" (the default: replies to the host's own
	// connections, ICMP and port forwards only), "all", or a list of
	// host ports like "tcp:53,udp:53".
	HostAccess string `json:"host_access,omitempty"`
	// Bridge is the host bridge zoned made for the network (zbr…);
	// read-only.
	Bridge string `json:"bridge,omitempty"`
	// UsedBy lists zone/NIC pairs attached to the network; read-only.
	UsedBy []string `json:"used_by,omitempty"`
}

// NICPatch is the body of PATCH /v1/zones/{name}/nics/{nic}: what
// changes live on a NIC.
type NICPatch struct {
	// RateBitsPerSecond replaces the NIC's cap; 0 removes it.
	RateBitsPerSecond *int64 `json:"rate_bps,omitempty"`
}

// PortForward forwards a host port into a zone (DNAT to the zone's first
// IPv4 address on a NAT bridge network).
type PortForward struct {
	Zone     string `json:"zone,omitempty"`
	HostPort int    `json:"host_port"`
	ZonePort int    `json:"zone_port"`
	// Protocol is tcp (default) or udp.
	Protocol string `json:"protocol,omitempty"`
	// Address is the zone address traffic is sent to; read-only.
	Address string `json:"address,omitempty"`
}
