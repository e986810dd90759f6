package manager

import (
	"fmt"
	"os"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/fsshare"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/quota"
)

// The seams below are the parts of the host the manager's lifecycle code
// (createZone, startLocked, stop, destroy, reconcile) drives but does not
// own: the zone runtime (namespaces), the cgroup driver (cgroups) and the
// zones' root storage (fsshare). Each is a small interface named for its
// job, so the order of those steps and their undo can be unit-tested
// without root against fakes; New wires the real packages through thin
// adapters, and newWith lets a test pass its own.

// zoneRuntime spawns a zone's init and follows it: what the manager needs
// of the namespaces package to run a zone.
type zoneRuntime interface {
	// Spawn starts a zone's init (namespaces.Spawn).
	Spawn(opts namespaces.SpawnOptions) (spawnedInit, error)
	// Alive says whether pid, started at startTime, still runs.
	Alive(pid int, startTime uint64) bool
	// Signal signals a process named by pid and start time.
	Signal(pid int, startTime uint64, sig syscall.Signal) error
	// WaitExited waits for an init the daemon did not spawn (adopted on
	// reconcile) to exit; known says whether status is how it ended.
	WaitExited(pid int, startTime uint64) (status namespaces.ExitStatus, known bool, err error)
	// OpenConsole opens the zone's console PTY; the slave is handed to
	// owner (the zone's root on the host) when owner >= 0.
	OpenConsole(owner int) (master, slave *os.File, err error)
	// ProbeIDMappedRoot checks that this host can build an unprivileged
	// zone's idmapped root from mount.
	ProbeIDMappedRoot(spec *specs.Spec, mount specs.Mount) error
	// Exec runs a command inside a running zone (namespaces.Exec).
	Exec(opts namespaces.ExecOptions) (execProcess, error)
	// OpenZonePTY opens a terminal in the zone's devpts for an exec.
	OpenZonePTY(initPID int, initStartTime uint64) (master, slave *os.File, err error)
}

// execProcess is a command running in a zone (namespaces.ExecProcess).
type execProcess interface {
	Signal(sig syscall.Signal) error
	// Wait returns the exit code, 128+signal when killed by a signal.
	Wait() (int, error)
}

// spawnedInit is an init the daemon is the parent of.
type spawnedInit interface {
	PID() int
	// StartTime is the init's start time (pid reuse guard).
	StartTime() uint64
	// Wait reaps the init and says how it ended.
	Wait() (namespaces.ExitStatus, error)
	// Kill sends SIGKILL to the init, undoing a start that failed after
	// the spawn.
	Kill() error
}

// cgroupDriver is what the manager does with cgroups: make a zone's group
// with its limits, find it again, bound and delegate its subtree, read its
// figures, and remove the zones' parent when no zone is left.
type cgroupDriver interface {
	New(path string, res *specs.LinuxResources) (cgroups.Group, error)
	Load(path string) (cgroups.Group, error)
	LimitTree(path string, l cgroups.TreeLimits) error
	Delegate(path string, uid, gid int) error
	ReadStats(path string) (*cgroups.Stats, error)
	// ReadUsage reads only what a list shows of a zone (cgroups.ReadUsage).
	ReadUsage(path string) (*cgroups.Stats, error)
	RemoveEmpty(path string) error
	// JoinInitLeaf moves an exec'd process into the leaf of g its zone's
	// init is in.
	JoinInitLeaf(g cgroups.Group, pid, initPID int) error
	// EntryFor opens the files through which an exec'd process enters g
	// by itself, into the leaf its zone's init is in (cgroups.EntryFor).
	EntryFor(g cgroups.Group, initPID int) (*cgroups.Entry, error)
	// Mode is "v1", "v2" or "hybrid".
	Mode() string
}

// rootStorage is the zones' root filesystems: the storage operations
// create, start, destroy and reconcile take, and the volume of each zone.
type rootStorage interface {
	// Pool checks that a pool exists.
	Pool(name string) (fsshare.PoolInfo, error)
	// Volume is zone's layer in pool ("" is the default pool); an unknown
	// pool is an ErrNotFound error.
	Volume(pool, zone string) (zoneVolume, error)
	// DetectInit says which init a template has.
	DetectInit(template string) (fsshare.InitInfo, error)
	// Cleanup removes leftovers of interrupted storage work.
	Cleanup() error
	// DeleteTemplate removes a template's files.
	DeleteTemplate(name string) error
}

// zoneVolume is one zone's layer (fsshare.Volume): what the manager does
// with a zone's root and its snapshots.
type zoneVolume interface {
	// Create makes the layer over template, under its disk quota.
	Create(template string, l quota.Limits) error
	// Delete removes the layer and the zone's directory; idempotent.
	Delete() error
	// MapIDs hands the layer to the zone's host ID range.
	MapIDs(base uint32) error
	// WriteFile writes a file in the layer.
	WriteFile(path string, data []byte, mode os.FileMode) error
	// RootPath is where the zone's root is mounted.
	RootPath() string
	// RootMount is the mount that makes the zone's root.
	RootMount(template string) specs.Mount
	// Usage is what the layer takes on disk.
	Usage() (int64, error)
	CreateSnapshot(snap string) error
	ListSnapshots() ([]string, error)
	SnapshotSize(snap string) (int64, error)
	RestoreSnapshot(snap string) error
	DeleteSnapshot(snap string) error
	CleanupSnapshots() error
}

// deps are the manager's seams. A nil field gets the real one.
type deps struct {
	runtime zoneRuntime
	cgroups cgroupDriver
	roots   rootStorage
	// parts lists a zone's parts; nil means the daemon's own
	// (Manager.zoneParts).
	parts func(m *Manager) []part.Part
}

// nsRuntime is the zone runtime of the namespaces package.
type nsRuntime struct{}

func (nsRuntime) Spawn(opts namespaces.SpawnOptions) (spawnedInit, error) {
	init, err := namespaces.Spawn(opts)
	if err != nil {
		return nil, err
	}
	return nsInit{init}, nil
}

func (nsRuntime) Alive(pid int, startTime uint64) bool { return namespaces.Alive(pid, startTime) }

func (nsRuntime) Signal(pid int, startTime uint64, sig syscall.Signal) error {
	return namespaces.Signal(pid, startTime, sig)
}

func (nsRuntime) WaitExited(pid int, startTime uint64) (namespaces.ExitStatus, bool, error) {
	return namespaces.WaitExited(pid, startTime)
}

func (nsRuntime) OpenConsole(owner int) (master, slave *os.File, err error) {
	master, slave, err = pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open console pty: %w", err)
	}
	if owner >= 0 {
		// A console owned by host root would be nobody's inside, and the
		// guest's init could not set it up.
		if err := slave.Chown(owner, owner); err != nil {
			master.Close()
			slave.Close()
			return nil, nil, fmt.Errorf("hand the console to the zone's root: %w", err)
		}
	}
	return master, slave, nil
}

func (nsRuntime) ProbeIDMappedRoot(spec *specs.Spec, mount specs.Mount) error {
	return namespaces.ProbeIDMappedRoot(spec, mount, "")
}

func (nsRuntime) Exec(opts namespaces.ExecOptions) (execProcess, error) {
	p, err := namespaces.Exec(opts)
	if err != nil {
		// A nil *ExecProcess in the interface would not be nil.
		return nil, err
	}
	return p, nil
}

func (nsRuntime) OpenZonePTY(initPID int, initStartTime uint64) (master, slave *os.File, err error) {
	return namespaces.OpenZonePTY(initPID, initStartTime)
}

// nsInit is a zone init spawned by the namespaces package.
type nsInit struct{ *namespaces.Init }

func (i nsInit) PID() int          { return i.Pid }
func (i nsInit) StartTime() uint64 { return i.Init.StartTime }
func (i nsInit) Kill() error       { return syscall.Kill(i.Pid, syscall.SIGKILL) }

// hostCgroups is the cgroup driver of the cgroups package.
type hostCgroups struct{}

func (hostCgroups) New(path string, res *specs.LinuxResources) (cgroups.Group, error) {
	return cgroups.New(path, res)
}
func (hostCgroups) Load(path string) (cgroups.Group, error) { return cgroups.Load(path) }
func (hostCgroups) LimitTree(path string, l cgroups.TreeLimits) error {
	return cgroups.LimitTree(path, l)
}
func (hostCgroups) Delegate(path string, uid, gid int) error {
	return cgroups.Delegate(path, uid, gid)
}
func (hostCgroups) ReadStats(path string) (*cgroups.Stats, error) { return cgroups.ReadStats(path) }
func (hostCgroups) ReadUsage(path string) (*cgroups.Stats, error) { return cgroups.ReadUsage(path) }
func (hostCgroups) RemoveEmpty(path string) error                 { return cgroups.RemoveEmpty(path) }
func (hostCgroups) Mode() string                                  { return cgroups.Mode() }
func (hostCgroups) JoinInitLeaf(g cgroups.Group, pid, initPID int) error {
	return cgroups.JoinInitLeaf(g, pid, initPID)
}
func (hostCgroups) EntryFor(g cgroups.Group, initPID int) (*cgroups.Entry, error) {
	return cgroups.EntryFor(g, initPID)
}

// fsRoots is the root storage of the fsshare package.
type fsRoots struct{ *fsshare.Storage }

func (s fsRoots) Volume(pool, zone string) (zoneVolume, error) {
	v, err := s.Storage.Volume(pool, zone)
	if err != nil {
		// A nil *Volume in the interface would not be nil.
		return nil, err
	}
	return v, nil
}
