//go:build linux

// Package netvirt gives zones their network: host bridges, veth pairs
// whose peer becomes the zone's ethN, macvlan and VXLAN networks, bridge
// VLAN filtering, per-port anti-spoofing in an nftables table zoned owns,
// NAT and port forwards, and HTB bandwidth caps with an ifb for traffic
// out of a zone.
//
// Everything it makes on the host carries a name zoned owns: bridges
// zbr…, host-side veths zv…, ifb devices zxb…, VXLAN devices zxl…, 802.1Q
// sub-interfaces zxq…, and the nftables tables named Owner.Table
// (zoned_<instance>). Names are derived from stable identities (the
// daemon's instance ID, network name, zone UUID and NIC name), so a
// daemon restarted after a crash finds and rebuilds or removes them from
// the store alone; every link also carries the daemon's alias
// (zoned:<instance>), so it can sweep what no record names without
// touching another daemon's links on the same host.
//
// The portable half (this file's neighbours without _linux) computes
// names, MAC addresses, rates and addresses and is unit-tested anywhere;
// the _linux half drives netlink, tc and nft.
package netvirt
