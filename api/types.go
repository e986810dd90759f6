package api

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version is the API version, the first segment of every path.
const Version = "v1"

// DefaultSocket is where zoned listens unless told otherwise.
const DefaultSocket = "/run/zoned/zoned.sock"

// ZoneState is the lifecycle state of a zone.
type ZoneState string

// The zone state machine:
//
//	creating -> stopped <-> starting -> running -> stopping -> stopped
//	stopped  -> destroying -> (gone)
//
// creating, starting, stopping and destroying are transient; a daemon that
// dies in one of them finishes or undoes the step on its next start.
const (
	StateCreating   ZoneState = "creating"
	StateStopped    ZoneState = "stopped"
	StateStarting   ZoneState = "starting"
	StateRunning    ZoneState = "running"
	StateStopping   ZoneState = "stopping"
	StateDestroying ZoneState = "destroying"
)

// Resources are a zone's limits as an operator states them. Zero means
// "no limit" (or the kernel default for CPUWeight).
type Resources struct {
	// MemoryBytes caps the zone's RAM (page cache included).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// SwapBytes is swap allowed on top of MemoryBytes. With a memory limit
	// and no swap given, the zone gets no swap: a VPS plan states its swap.
	SwapBytes int64 `json:"swap_bytes,omitempty"`
	// CPUs pins the zone to host CPUs, in cpuset list form ("0-1,3").
	CPUs string `json:"cpus,omitempty"`
	// CPULimitPercent caps CPU time: 150 means one and a half CPUs.
	CPULimitPercent int64 `json:"cpu_limit_percent,omitempty"`
	// CPUWeight is the zone's share under contention, 1..10000 (default 100),
	// as cgroup v2's cpu.weight.
	CPUWeight uint64 `json:"cpu_weight,omitempty"`
	// PidsMax caps the number of tasks in the zone.
	PidsMax int64 `json:"pids_max,omitempty"`
	// DiskBytes and DiskInodes cap the zone's own layer (what it wrote
	// over its template), enforced by the quota backend of its pool.
	DiskBytes  int64 `json:"disk_bytes,omitempty"`
	DiskInodes int64 `json:"disk_inodes,omitempty"`
	// IOWeight is the zone's share of block IO under contention, 1..10000
	// (default 100), as cgroup v2's io.weight.
	IOWeight uint64 `json:"io_weight,omitempty"`
	// IO caps on the block device that holds the zone's root, in bytes
	// and operations per second.
	IOReadBPS   int64 `json:"io_read_bps,omitempty"`
	IOWriteBPS  int64 `json:"io_write_bps,omitempty"`
	IOReadIOPS  int64 `json:"io_read_iops,omitempty"`
	IOWriteIOPS int64 `json:"io_write_iops,omitempty"`
}

// ResourcesPatch changes some of a zone's Resources; nil fields stay as
// they are, and a zero value removes that limit.
type ResourcesPatch struct {
	MemoryBytes     *int64  `json:"memory_bytes,omitempty"`
	SwapBytes       *int64  `json:"swap_bytes,omitempty"`
	CPUs            *string `json:"cpus,omitempty"`
	CPULimitPercent *int64  `json:"cpu_limit_percent,omitempty"`
	CPUWeight       *uint64 `json:"cpu_weight,omitempty"`
	PidsMax         *int64  `json:"pids_max,omitempty"`
	DiskBytes       *int64  `json:"disk_bytes,omitempty"`
	DiskInodes      *int64  `json:"disk_inodes,omitempty"`
	IOWeight        *uint64 `json:"io_weight,omitempty"`
	IOReadBPS       *int64  `json:"io_read_bps,omitempty"`
	IOWriteBPS      *int64  `json:"io_write_bps,omitempty"`
	IOReadIOPS      *int64  `json:"io_read_iops,omitempty"`
	IOWriteIOPS     *int64  `json:"io_write_iops,omitempty"`
}

// Usage is what a running zone consumes now.
type Usage struct {
	MemoryBytes      uint64 `json:"memory_bytes"`
	MemoryLimitBytes uint64 `json:"memory_limit_bytes,omitempty"`
	Processes        uint64 `json:"processes"`
	CPUNanos         uint64 `json:"cpu_nanos"`
}

// Zone is a zone as the API shows it.
type Zone struct {
	Name      string    `json:"name"`
	UUID      string    `json:"uuid"`
	State     ZoneState `json:"state"`
	Template  string    `json:"template"`
	Hostname  string    `json:"hostname"`
	Autostart bool      `json:"autostart"`
	// AutostartPriority orders autostart after a host boot: higher
	// priorities start first (and stop last at host shutdown).
	AutostartPriority int `json:"autostart_priority,omitempty"`
	// AutostartDelaySeconds is how long autostart waits after starting
	// this zone before it starts the next priority group.
	AutostartDelaySeconds int       `json:"autostart_delay_seconds,omitempty"`
	Resources             Resources `json:"resources"`
	// InitPID is the host PID of the zone's init while it runs.
	InitPID   int        `json:"init_pid,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	// LastExit says how the zone last stopped ("poweroff", "killed", ...).
	LastExit string `json:"last_exit,omitempty"`
	Usage    *Usage `json:"usage,omitempty"`
	// Warnings say what of the zone works less than asked (no /proc view).
	Warnings []string `json:"warnings,omitempty"`
	// Privileged zones run without a user namespace: root inside is root on
	// the host. Only an explicit request makes one.
	Privileged bool `json:"privileged,omitempty"`
	// IDMap is the range of host UIDs and GIDs an unprivileged zone's IDs
	// 0..Size-1 map to; nil for a privileged zone.
	IDMap *IDMap `json:"idmap,omitempty"`
	// Devices are the optional host devices the zone was given ("tun",
	// "fuse").
	Devices []string `json:"devices,omitempty"`
	// Revision counts the changes to the zone's record: 1 at create, one
	// more at each update. GET /v1/zones/{name} sends it as the ETag, and
	// PATCH takes it back in If-Match to refuse lost updates.
	Revision uint64 `json:"revision,omitempty"`
	// Pool is the storage pool that holds the zone's own layer.
	Pool string `json:"pool,omitempty"`
	// NICs are the zone's network interfaces, eth0 first.
	NICs []NIC `json:"nics,omitempty"`
	// DNS are the nameservers written to the zone's /etc/resolv.conf.
	DNS []string `json:"dns,omitempty"`
	// Labels are the operator's own key=value tags (a customer ID, a
	// plan); lists filter on them.
	Labels map[string]string `json:"labels,omitempty"`
	// Spec is the zone's OCI runtime configuration; only GET /v1/zones/{name}
	// fills it.
	Spec *specs.Spec `json:"spec,omitempty"`
}

// IDMap is a zone's share of host user and group IDs: zone ID n is host
// ID HostID+n, for n < Size. zoned allocates it and no other zone has it.
type IDMap struct {
	HostID uint32 `json:"host_id"`
	Size   uint32 `json:"size"`
}

// CreateZoneRequest is the body of POST /v1/zones.
type CreateZoneRequest struct {
	Name      string    `json:"name"`
	Template  string    `json:"template"`
	Hostname  string    `json:"hostname,omitempty"`
	Resources Resources `json:"resources"`
	Autostart bool      `json:"autostart,omitempty"`
	// AutostartPriority and AutostartDelaySeconds: see Zone.
	AutostartPriority     int `json:"autostart_priority,omitempty"`
	AutostartDelaySeconds int `json:"autostart_delay_seconds,omitempty"`
	// Privileged asks for a zone without a user namespace, whose root is
	// the host's root. The default (false) is an unprivileged zone.
	Privileged bool `json:"privileged,omitempty"`
	// Devices asks for optional host devices inside the zone: "tun"
	// (/dev/net/tun, for VPNs) and "fuse" (/dev/fuse). Without them the
	// device policy keeps both closed.
	Devices []string `json:"devices,omitempty"`
	// Pool names the storage pool for the zone's own layer; "" is the
	// default pool.
	Pool string `json:"pool,omitempty"`
	// NICs are network interfaces to give the zone, eth0 first.
	NICs []NICRequest `json:"nics,omitempty"`
	// DNS are nameservers for /etc/resolv.conf; empty means the first
	// NIC's network's default.
	DNS    []string          `json:"dns,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ZonePatch is the body of PATCH /v1/zones/{name}.
type ZonePatch struct {
	Resources *ResourcesPatch `json:"resources,omitempty"`
	Autostart *bool           `json:"autostart,omitempty"`
	// AutostartPriority and AutostartDelaySeconds: see Zone.
	AutostartPriority     *int `json:"autostart_priority,omitempty"`
	AutostartDelaySeconds *int `json:"autostart_delay_seconds,omitempty"`
	// Labels, when set, replace the zone's labels (an empty map clears
	// them; omitzero sends it, where omitempty would drop it).
	Labels map[string]string `json:"labels,omitzero"`
}

// StopRequest is the body of stop and restart.
type StopRequest struct {
	// TimeoutSeconds is how long the guest's init gets to shut down before
	// the zone is killed; 0 means the default (30 s).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// Force kills the zone at once, without asking its init.
	Force bool `json:"force,omitempty"`
}

// ExecRequest is the body of POST /v1/zones/{name}/exec.
type ExecRequest struct {
	Command []string `json:"command"`
	Env     []string `json:"env,omitempty"`
	Cwd     string   `json:"cwd,omitempty"`
	// TTY gives the command a terminal; Width and Height are its size.
	TTY    bool   `json:"tty,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
}

// Template is an OS template zones are created from.
type Template struct {
	Name string `json:"name"`
	// Source says how it was made: "builtin", "debootstrap" or "tar".
	Source    string    `json:"source"`
	Suite     string    `json:"suite,omitempty"`
	Include   []string  `json:"include,omitempty"`
	Init      string    `json:"init"`
	SizeBytes int64     `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
	Zones     []string  `json:"zones,omitempty"`
}

// CreateTemplateRequest is the body of POST /v1/templates.
type CreateTemplateRequest struct {
	Name string `json:"name"`
	// From is "debootstrap", "builtin", "dir" or "oci".
	From    string   `json:"from"`
	Suite   string   `json:"suite,omitempty"`
	Include []string `json:"include,omitempty"`
	Mirror  string   `json:"mirror,omitempty"`
	// Path is the host directory (from "dir") or OCI image layout or
	// docker save archive (from "oci") the daemon reads.
	Path string `json:"path,omitempty"`
}

// OperationStatus is where an operation stands.
type OperationStatus string

const (
	OperationRunning OperationStatus = "running"
	OperationSuccess OperationStatus = "success"
	OperationFailure OperationStatus = "failure"
)

// Operation is slow work running in the daemon.
type Operation struct {
	ID        string          `json:"id"`
	Kind      string          `json:"kind"`
	Target    string          `json:"target"`
	Status    OperationStatus `json:"status"`
	Progress  int             `json:"progress"`
	Message   string          `json:"message,omitempty"`
	Err       *Error          `json:"error,omitempty"`
	Outcome   string          `json:"outcome,omitempty"` // what a daemon restart did to it (api/operations.go)
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Info describes the daemon and its host.
type Info struct {
	Version    string `json:"version"`
	APIVersion string `json:"api_version"`
	Kernel     string `json:"kernel"`
	CgroupMode string `json:"cgroup_mode"`
	DataDir    string `json:"data_dir"`
	Zones      int    `json:"zones"`
	Running    int    `json:"running"`
	// HTTPSAddress is where the daemon serves the API over HTTPS, and
	// ServerFingerprint its certificate's fingerprint, which clients
	// pin; both "" when it serves only its socket.
	HTTPSAddress      string `json:"https_address,omitempty"`
	ServerFingerprint string `json:"server_fingerprint,omitempty"`
}

// ReservedZoneNames are words of the API's routes in the place of a
// zone's name (POST /v1/zones/import): a zone so named could not be
// reached by its own URL, so creating one is refused.
var ReservedZoneNames = []string{"import"}

// Error is every error answer's body.
type Error struct {
	// Code is stable: invalid_argument, not_found, already_exists,
	// conflict, unsupported, unavailable, precondition_failed,
	// insufficient_storage (507: a disk, its inodes or a quota is full),
	// permission_denied (403: a scoped client asked beyond its scope),
	// method_not_allowed (405), unsupported_media_type (415: a JSON body
	// without Content-Type: application/json), too_many_event_streams
	// (429), internal.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// HostShutdownRequest is the body of POST /v1/host/shutdown, which stops
// every running zone gracefully because the host is going down: lower
// autostart priorities first, zones of one priority in parallel.
type HostShutdownRequest struct {
	// TimeoutSeconds is each zone's stop timeout; 0 means the default
	// (30 s). A zone still running after it is killed.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// HostShutdownResult says what a host shutdown stopped, in the order the
// stops finished.
type HostShutdownResult struct {
	Zones []ZoneShutdown `json:"zones"`
}

// ZoneShutdown is one zone's part in a host shutdown.
type ZoneShutdown struct {
	Name              string    `json:"name"`
	AutostartPriority int       `json:"autostart_priority"`
	StoppedAt         time.Time `json:"stopped_at"`
	// LastExit is how the zone ended ("poweroff", "killed after ...").
	LastExit string `json:"last_exit,omitempty"`
	// Error is set when the zone could not be stopped.
	Error string `json:"error,omitempty"`
}
