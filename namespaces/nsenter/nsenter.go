//go:build linux

// Package nsenter joins a running zone's namespaces before the Go runtime
// starts. setns(2) into a mount or user namespace is refused to a
// multithreaded process, and the Go runtime is multithreaded from its
// first instruction, so this has to happen in a C constructor, which runs
// before the runtime. Import it for its side effect in every binary that
// is re-executed as "zoned-exec"; it does nothing unless the environment
// variable _ZONED_NSENTER is set.
//
// _ZONED_NSENTER="SYNC;NS1,NS2,...;ROOT" names inherited descriptors: the
// sync socket, namespace files to be joined in the given order (a user
// namespace must come first), and optionally the zone init's root
// directory. The constructor
//  1. reads one byte from SYNC (the parent has put this process into the
//     zone's cgroup meanwhile),
//  2. setns()es into every namespace, then chroots to ROOT,
//  3. forks, so the child is inside the joined PID namespace,
//  4. in the parent: writes "pid N\n" (the child's host pid) to SYNC,
//     closes it, waits for the child and exits with its exact status
//     (same exit code, or the same signal raised again);
//  5. in the child: unsets the variable and returns into the Go runtime,
//     which runs the "zoned-exec" role.
//
// Errors are written to SYNC as "error MESSAGE\n" before exiting 1.
package nsenter

// #cgo CFLAGS: -Wall
import "C"

// EnvVar is the variable that switches the constructor on.
const EnvVar = "_ZONED_NSENTER"

// Flags of the exec config (CONFIG_TTY and CONFIG_LISTENER in nsenter.c).
const (
	// ConfigTTY: stdin is a terminal to become the command's
	// controlling terminal, in a session of its own.
	ConfigTTY = 1
	// ConfigListener: load the filter with a listener and send it to
	// the daemon.
	ConfigListener = 2
)
