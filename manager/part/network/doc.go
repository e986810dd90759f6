//go:build linux

// Package network is the zone part that gives zones their network: the
// networks zones plug into (bridges, macvlan parents with their 802.1Q
// sub-interfaces, VXLAN overlays), each zone's NICs with their addresses,
// MACs, anti-spoofing rules and rate caps, and the port forwards from the
// host into zones. Package netvirt does the kernel's side; this package
// keeps the store and the host in step.
//
// Its files follow its jobs: part_linux.go is the part's steps in a
// zone's life, addresses_linux.go hands out addresses and MACs,
// nics_linux.go plugs NICs in and out (also into running zones),
// networks_linux.go makes and removes networks, portforward_linux.go
// writes the NAT table, and reconcile_linux.go rebuilds the host's side
// from the store when the daemon starts, finishing NIC changes a crash
// cut short and sweeping links no record names.
//
// What differs between network types is in one file per type
// (bridge_linux.go, macvlan_linux.go, vxlan_linux.go), each a
// networkType (types_linux.go): its fields' checks, its host devices,
// how a NIC's host side is made and its peer moved into the zone, and
// what reconcile keeps and restores. A new network or NIC type is a new
// such file, a constant in package api and a line in networkTypes; a
// unit test fails while api names a type the table lacks.
//
// Every change of a running zone's NICs is recorded as pending before the
// host is touched (api.NIC.Pending), so a daemon killed half way finds
// at its next start what to finish or undo.
package network
