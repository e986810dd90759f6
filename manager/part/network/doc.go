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
// Every change of a running zone's NICs is recorded as pending before the
// host is touched (api.NIC.Pending), so a daemon killed half way finds
// at its next start what to finish or undo.
package network
