//go:build linux

package namespaces

import (
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// optionalDevices are host devices a zone gets only when its configuration
// names them. Each is a door to a kernel subsystem that a plain VPS does
// not need: tun for VPN software, fuse for user-space filesystems.
var optionalDevices = map[string]specs.LinuxDevice{
	"tun":  {Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: fileMode(0o666)},
	"fuse": {Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o666)},
}

func fileMode(m os.FileMode) *os.FileMode { return &m }

// OptionalDevice returns the node of an optional device by name.
func OptionalDevice(name string) (specs.LinuxDevice, bool) {
	d, ok := optionalDevices[name]
	return d, ok
}

// OptionalDeviceNames lists the names OptionalDevice knows, sorted.
func OptionalDeviceNames() []string {
	names := make([]string, 0, len(optionalDevices))
	for n := range optionalDevices {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
