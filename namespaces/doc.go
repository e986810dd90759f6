//go:build linux

// Package namespaces starts a zone's init in fresh namespaces on the zone's
// root and enters running zones to execute commands there.
//
// The daemon binary re-executes itself for both jobs. Dispatch, called first
// in main's init(), recognises the roles by argv[0]:
//
//   - "zoned-init": PID 1 of a new PID, mount, UTS, IPC and network
//     namespace. It waits until the daemon has put it into the zone's
//     cgroup, unshares its cgroup namespace, builds the zone's mount tree
//     (root, /proc, /sys, /sys/fs/cgroup, /dev, masks), sets the hostname,
//     brings loopback up, pivots into the root, narrows the capability
//     bounding set and execs the zone's init. Every failure travels back to
//     Spawn over a socket pair with its context.
//   - "zoned-exec": a command inside a running zone. A multithreaded Go
//     process cannot join a mount or user namespace, so the whole role runs
//     in C before the Go runtime starts (package nsenter), which also spares
//     every exec a runtime start: Exec validates the request and prepares
//     the seccomp program and the capability mask, and the C side joins
//     the namespaces, forks, prepares the terminal, cwd and bounding set,
//     looks the command up, loads the filter and execs the command.
//
// The binary that is re-executed is a sealed memfd copy (SealedBinary), so
// a process inside a zone cannot overwrite the host's daemon through
// /proc/PID/exe (CVE-2019-5736).
package namespaces
