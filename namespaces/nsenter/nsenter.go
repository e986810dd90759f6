//go:build linux

// Package nsenter runs the whole "zoned-exec" role, entering a running zone
// and executing a command there, before the Go runtime starts. setns(2)
// into a mount or user namespace is refused to a multithreaded process,
// and the Go runtime is multithreaded from its first instruction, so the
// joining has to happen in a C constructor, which runs before the runtime;
// the rest of the role is done there too, so no exec pays for a Go runtime
// start (threads, package inits) in the helper. Import it for its side
// effect in every binary that is re-executed as "zoned-exec"; it does
// nothing unless the environment variable _ZONED_NSENTER is set.
//
// _ZONED_NSENTER="SYNC;NS1,NS2,...;ROOT;TASK1,TASK2,..." names inherited
// descriptors: the sync socket, namespace files to be joined in the given
// order (a user namespace must come first), optionally the zone init's
// root directory, and optionally the zone's cgroup v1 "tasks" files
// (cgroups.Entry; the daemon creates the process in the cgroup v2 one
// already). Descriptor 3 carries the exec config, a binary layout that
// nsenter.c describes (struct exec_config): flags (ConfigTTY,
// ConfigListener), the capabilities kept in the bounding set as a bitmask,
// the cwd, the seccomp program already assembled by the daemon, argv and
// envp. The constructor
//  1. closes every other inherited descriptor above stderr, writes "0" to
//     every TASK file (a single thread moving itself into the zone's
//     cgroup, which spares the kernel's global lock a move by pid takes),
//     reads the config to EOF and reads cap_last_cap while the host's
//     /proc is ours,
//  2. reads one byte from SYNC (the parent has set up the rest meanwhile:
//     its OOM score, or the cgroup by pid where the kernel cannot create
//     the process in it),
//  3. setns()es into every namespace (becoming uid and gid 0 in a joined
//     user namespace), then chroots to ROOT,
//  4. forks, so the child is inside the joined PID namespace,
//  5. in the parent: writes "pid N\n" (the child's host pid) to SYNC,
//     closes it, waits for the child and exits with its exact status
//     (same exit code, or the same signal raised again);
//  6. in the child: waits for a second byte on SYNC (the daemon holds a
//     pidfd on it then), takes a session and stdin as controlling terminal
//     for ConfigTTY, changes to the cwd, drops every capability not in the
//     mask from the bounding set, looks argv[0] up in envp's PATH as the
//     Go lookPath does, loads the filter with seccomp(2) and, for
//     ConfigListener, sends "seccomp\n" with the listener attached
//     (SCM_RIGHTS) and closes it, marks every descriptor from 3 up
//     close-on-exec and execs the command with envp. SYNC closes in that
//     execve, which tells the daemon the command runs.
//
// Errors before the fork are written to SYNC as "error nsenter: MESSAGE\n",
// the command's own (not found, a bad cwd, a refused filter, execve) as
// "error MESSAGE\n" in the words the Go exec role used; the process then
// exits 1.
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
