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
}
