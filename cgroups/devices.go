//go:build linux

package cgroups

import specs "github.com/opencontainers/runtime-spec/specs-go"

// devRule makes an allow rule; -1 is a wildcard. Wildcards are explicit
// -1, not nil: the v2 eBPF filter builder dereferences both numbers.
func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: access}
}

// DefaultDevices is the device policy of every zone: nothing may be read
// or written but the nodes a system needs. A zone keeps CAP_MKNOD so that
// package installs that create nodes work, which is why this policy, not
// the capability, is what keeps a zone's root off the host's disks and
// memory: a node it makes for /dev/sda can be created but not opened.
func DefaultDevices() []specs.LinuxDeviceCgroup {
	any := int64(-1)
	return []specs.LinuxDeviceCgroup{
		// Deny everything first; the rules below open holes.
		{Allow: false, Type: "a", Major: &any, Minor: &any, Access: "rwm"},
		// mknod of any node, but no open: see above.
		devRule("c", -1, -1, "m"),
		devRule("b", -1, -1, "m"),
		devRule("c", 1, 3, "rwm"),    // /dev/null
		devRule("c", 1, 5, "rwm"),    // /dev/zero
		devRule("c", 1, 7, "rwm"),    // /dev/full
		devRule("c", 1, 8, "rwm"),    // /dev/random
		devRule("c", 1, 9, "rwm"),    // /dev/urandom
		devRule("c", 5, 0, "rwm"),    // /dev/tty
		devRule("c", 5, 1, "rwm"),    // /dev/console
		devRule("c", 5, 2, "rwm"),    // /dev/ptmx
		devRule("c", 136, -1, "rwm"), // /dev/pts/N, the console PTY included
	}
}

// AllowDevices opens the device policy in res for the given nodes, which a
// zone asked for by name (tun, fuse).
func AllowDevices(res *specs.LinuxResources, devs []specs.LinuxDevice) {
	for _, d := range devs {
		res.Devices = append(res.Devices, devRule(d.Type, d.Major, d.Minor, "rwm"))
	}
}
