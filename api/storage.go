package api

import "time"

// Pool is a storage pool: where zone roots live and with which backend.
type Pool struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Backend is "overlay" (an upper dir per zone over the shared
	// template) or "btrfs" (a snapshot per zone of a template subvolume).
	Backend string `json:"backend"`
	// Default is true for the pool that is the daemon's data dir.
	Default bool `json:"default,omitempty"`
	// Quota is the backend that enforces zones' --disk quotas in the
	// pool: "btrfs-qgroup", "project" (ext4/XFS project quota on the
	// zone's own directory), "image" (a per-zone ext4 image on a loop
	// device, where the filesystem has neither) or "none" (--disk is
	// refused in this pool).
	Quota     string    `json:"quota"`
	Zones     []string  `json:"zones,omitempty"`
	CreatedAt time.Time `json:"created_at,omitempty"`
}

// CreatePoolRequest is the body of POST /v1/storage/pools.
type CreatePoolRequest struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Backend "" picks it from the filesystem of Path.
	Backend string `json:"backend,omitempty"`
}

// DiskUsage is GET /v1/storage/df: what templates and zones cost on disk,
// counted honestly (extents shared between a btrfs template and its
// snapshots once; an overlay zone by its upper dir only).
type DiskUsage struct {
	Templates []TemplateDiskUsage `json:"templates"`
	Zones     []ZoneDiskUsage     `json:"zones"`
	// UsedBytes is what templates and zones take together.
	UsedBytes int64 `json:"used_bytes"`
	// FullCopyBytes is what every zone would take as a full copy of its
	// template plus its own changes.
	FullCopyBytes int64 `json:"full_copy_bytes"`
	// SavedBytes is FullCopyBytes - UsedBytes.
	SavedBytes int64 `json:"saved_bytes"`
}

// TemplateDiskUsage is one template's cost.
type TemplateDiskUsage struct {
	Name string `json:"name"`
	// Bytes is the template's size in the data dir.
	Bytes int64 `json:"bytes"`
	// PoolCopyBytes is what its copies in btrfs pools take beyond what
	// they share with it, by pool.
	PoolCopyBytes map[string]int64 `json:"pool_copy_bytes,omitempty"`
	Zones         int              `json:"zones"`
}

// ZoneDiskUsage is one zone's own bytes: what it added or changed.
type ZoneDiskUsage struct {
	Name     string `json:"name"`
	Pool     string `json:"pool"`
	Template string `json:"template"`
	OwnBytes int64  `json:"own_bytes"`
}

// Snapshot is a snapshot of a zone's own layer.
type Snapshot struct {
	Zone      string    `json:"zone"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Running says the zone was running, frozen for the moment of the
	// snapshot, when it was taken.
	Running   bool  `json:"running,omitempty"`
	SizeBytes int64 `json:"size_bytes"`
}

// CreateSnapshotRequest is the body of POST /v1/zones/{name}/snapshots.
type CreateSnapshotRequest struct {
	Name string `json:"name"`
}

// CloneZoneRequest is the body of POST /v1/zones/{name}/clone.
type CloneZoneRequest struct {
	// Name is the new zone's.
	Name string `json:"name"`
	// Hostname defaults to Name.
	Hostname string `json:"hostname,omitempty"`
}

// ExportZoneRequest is the body of POST /v1/zones/{name}/export.
type ExportZoneRequest struct {
	// Path is the archive to write, on the daemon's host; it must not
	// exist.
	Path string `json:"path"`
	// Full writes the whole root, not only the zone's own layer, so the
	// archive imports where the template is missing.
	Full bool `json:"full,omitempty"`
}

// ImportZoneRequest is the body of POST /v1/zones/import. An archive is
// data: what the zone it becomes may do is what this request grants, never
// what the archive's configuration says. The archive gives only the name
// (when Name is ""), the template's name (when Template is "") and the
// host name; its
// privileged, devices, resources, labels and autostart are hints that are
// dropped, each with a warning in the operation's message. An archive from
// a privileged zone imported without Privileged becomes an unprivileged
// zone, or is refused (field "privileged") when it holds owners beyond an
// unprivileged zone's 65536 IDs.
type ImportZoneRequest struct {
	// Path is the archive to read, on the daemon's host.
	Path string `json:"path"`
	// Name is the new zone's; "" keeps the exported zone's name.
	Name string `json:"name,omitempty"`
	Pool string `json:"pool,omitempty"`
	// Template is the template a layer archive is laid over; "" takes the
	// archive's, unless that is a template made by importing a zone's
	// whole root (another zone's data), which only the request may name.
	// A full archive brings its own root and takes no template.
	Template string `json:"template,omitempty"`
	// Privileged grants a zone without a user namespace, as at create.
	Privileged bool `json:"privileged,omitempty"`
	// Devices grants optional host devices ("tun", "fuse"), as at create.
	Devices []string `json:"devices,omitempty"`
	// Resources are the zone's limits, as at create. A disk quota also
	// caps what the archive may unpack to.
	Resources Resources `json:"resources,omitzero"`
	// Labels are the zone's labels, as at create.
	Labels map[string]string `json:"labels,omitempty"`
	// Autostart, AutostartPriority, AutostartDelaySeconds: as at create.
	Autostart             bool `json:"autostart,omitempty"`
	AutostartPriority     int  `json:"autostart_priority,omitempty"`
	AutostartDelaySeconds int  `json:"autostart_delay_seconds,omitempty"`
}
