package network

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/netvirt"
)

// networkType is what differs between the types of network (api.Network
// Type): each type is one file (bridge_linux.go, macvlan_linux.go,
// vxlan_linux.go) with a value of this interface, listed in networkTypes.
// The rest of the package — the store, addresses, anti-spoofing rules,
// rate caps, NAT, host access, pending NIC changes — is the same for
// every type and asks the type only these questions.
type networkType interface {
	// check validates a new network's type-specific fields, refuses the
	// fields of other types and fills the type's defaults (nw.Bridge).
	// It runs before the checks every network gets.
	check(o netvirt.Owner, nw *api.Network) error
	// gatewayOnHost tells whether the host holds the gateway address (on
	// the network's bridge), so a subnet without a gateway gets its
	// first address as one.
	gatewayOnHost() bool
	// conflict refuses new network nw beside existing network other of
	// any type (two VXLAN segments with one VNI), or returns nil.
	conflict(nw, other *api.Network) error
	// setUp makes the network's host devices, or finds them there: at
	// create, before a NIC is plugged in, and at reconcile.
	setUp(o netvirt.Owner, nw *api.Network) error
	// tearDown removes the network's host devices; errors are ignored,
	// as a device already gone is what is wanted.
	tearDown(nw *api.Network)
	// links are the host links of the network that reconcile's sweep
	// keeps.
	links(nw *api.Network) []string
	// hostSide tells whether a NIC on the network has a host-side
	// interface (api.NIC.HostIfName, a veth), which carries the NIC's
	// anti-spoofing rules and rate cap.
	hostSide() bool
	// checkVLAN tells whether a NIC on nw can have a VLAN, naming the
	// missing kernel option where this kernel cannot.
	checkVLAN(nw *api.Network) error
	// plug makes a NIC's host side and moves its peer into the zone
	// whose init is pid, configured; on error nothing of it is left.
	plug(o netvirt.Owner, nw *api.Network, nic netvirt.NIC, pid int) error
	// restoreNIC puts a running zone's NIC whose host side survived a
	// daemon restart back in place on the network (bridge port, VLAN),
	// logging what fails.
	restoreNIC(log *slog.Logger, zone string, nw *api.Network, nic api.NIC)
}

// networkTypes are the network types by name. A new type is a file
// with its networkType, a constant in package api and a line here.
var networkTypes = map[string]networkType{
	api.NetworkBridge:  bridgeType{},
	api.NetworkMacvlan: macvlanType{},
	api.NetworkVXLAN:   vxlanType{},
}

// typeOf returns the type of network nw, or an error naming the field
// and the types there are.
func typeOf(nw *api.Network) (networkType, error) {
	if t, ok := networkTypes[nw.Type]; ok {
		return t, nil
	}
	return nil, invalid("type", "network type %q is not %s", nw.Type, knownTypes())
}

// knownTypes lists the network types for a message: "bridge, macvlan
// or vxlan".
func knownTypes() string {
	names := make([]string, 0, len(networkTypes))
	for n := range networkTypes {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// invalid is an ErrInvalid error about request field field.
func invalid(field, format string, a ...any) error {
	return errdefs.WithField(field, fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalid)...))
}

// refuseParent refuses a parent on a network of a type that has none.
func refuseParent(nw *api.Network) error {
	if nw.Parent != "" {
		return invalid("parent", "a %s network has no parent (that is for macvlan)", nw.Type)
	}
	return nil
}

// refuseVXLAN refuses the VXLAN fields on a network of another type.
func refuseVXLAN(nw *api.Network) error {
	if nw.VNI != 0 || nw.Remote != "" || nw.Group != "" || nw.Dev != "" {
		return invalid("vni", "vni, remote, group and dev are for vxlan networks")
	}
	return nil
}
