//go:build linux

package namespaces

import (
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/zoned-project/zoned/cgroups"
)

// Re-exec roles, matched against os.Args[0] by Dispatch.
const (
	RoleInit = "zoned-init"
	RoleExec = "zoned-exec"
)

// InitConfig is what the zone's init stage needs to build the zone. It
// travels to the child as JSON over an inherited pipe.
type InitConfig struct {
	Zone string
	// Spec supplies Hostname, Process (Args, Env, Cwd,
	// Capabilities.Bounding), Root.Path (= RootMount.Destination), Mounts
	// (extra, applied after zoned's own), Linux.MaskedPaths and
	// Linux.ReadonlyPaths.
	Spec *specs.Spec
	// RootMount says how to mount the root (an overlay, or a bind mount);
	// it is mounted inside the zone's mount namespace only, so the host
	// never sees it and it vanishes with the zone.
	RootMount specs.Mount
	// CgroupV2 selects how /sys/fs/cgroup is presented inside.
	CgroupV2 bool
	// DevicesDir is a host directory holding, by base name, the nodes of
	// Spec.Linux.Devices that the daemon made for this zone (with the
	// spec's modes and owned by the zone's root); Spawn copies them into
	// a tmpfs of their own that the zone's init binds them from into the
	// zone's /dev (devnodes_linux.go). Empty means the host's own nodes
	// are bound.
	DevicesDir string
	// UserNS is set by Spawn when the spec has ID mappings: the child
	// then runs in a new user namespace and gets its root as a
	// ready-made idmapped mount with the parent's "go" (userns_linux.go).
	UserNS bool
	// UserNSLimits are written to the zone's user namespace when UserNS
	// is set (limits_linux.go).
	UserNSLimits UserNSLimits

	rootFd    int // the child's descriptor of that mount
	devicesFd int // the device nodes' tmpfs (devnodes_linux.go), or -1
}

// SpawnOptions are the inputs of Spawn.
type SpawnOptions struct {
	Config InitConfig
	// Console is the PTY slave that becomes the init's stdin, stdout and
	// stderr and is bind-mounted at /dev/console. nil means /dev/null and
	// no /dev/console.
	Console *os.File
	// Setup is called with the child's host pid while the child waits,
	// before it touches its root: put it into the zone's cgroup (so that
	// its cgroup namespace is rooted there) and network. An error kills
	// the child and fails Spawn.
	Setup func(pid int) error
	// Binary is the executable to re-exec; "" means SealedBinary().
	Binary string
}

// Init is a running zone init.
type Init struct {
	Pid int
	// StartTime is field 22 of /proc/PID/stat; pid plus start time name
	// the process even after the pid number is reused.
	StartTime uint64

	proc *os.Process
}

// ExitStatus is how a zone's init ended.
type ExitStatus struct {
	Code   int
	Signal syscall.Signal // != 0 when killed by a signal
}

// Reboot reports whether the zone asked for a restart: reboot(2) with
// RB_AUTOBOOT inside a PID namespace kills the namespace's init with SIGHUP.
func (e ExitStatus) Reboot() bool { return e.Signal == syscall.SIGHUP }

// PowerOff reports whether the zone powered off or halted: reboot(2) with
// RB_POWER_OFF or RB_HALT_SYSTEM inside a PID namespace kills the
// namespace's init with SIGINT.
func (e ExitStatus) PowerOff() bool { return e.Signal == syscall.SIGINT }

// ExecOptions are the inputs of Exec.
type ExecOptions struct {
	// InitPid and InitStartTime name the target zone's init; the start
	// time guards against a recycled pid.
	InitPid       int
	InitStartTime uint64

	Args []string
	Env  []string
	Cwd  string // "" means "/"
	// TTY: Stdin is a PTY slave that becomes the controlling terminal of
	// the command (own session).
	TTY                   bool
	Stdin, Stdout, Stderr *os.File
	// Capabilities is the bounding set kept; nil means DefaultCapabilities().
	Capabilities []string
	// Seccomp is the zone's filter (its spec's Linux.Seccomp), installed
	// in the command right before execve; nil means none. A listener it
	// asks for goes to its ListenerPath with Zone as the state's ID.
	Seccomp *specs.LinuxSeccomp
	Zone    string
	// JoinCgroup is called with the host pid of the helper before it can
	// run anything in the zone, so the command starts in the zone's cgroup.
	JoinCgroup func(pid int) error
	// EnterCgroup, when set, is used instead of JoinCgroup: it opens
	// the files through which the helper gets into the zone's cgroup
	// without being migrated by pid (cgroups.Entry says why): it is
	// created in Dir (clone3 CLONE_INTO_CGROUP) and, while it still has
	// one thread, writes "0" to every file in Tasks before it joins any
	// namespace. Exec closes them. JoinCgroup stays the way on kernels
	// without CLONE_INTO_CGROUP.
	EnterCgroup func() (*cgroups.Entry, error)
	Binary      string // "" means SealedBinary()
}
