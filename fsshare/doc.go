//go:build linux

// Package fsshare owns zone root filesystems: OS templates, stored once and
// shared read-only, and each zone's own copy-on-write layer over its
// template, so that N zones cost one template plus their own changes.
//
// A zone's layer is a Volume (pool, backend, directories), which the
// manager resolves once from the zone's store record: nothing on disk
// names a zone's pool. Zone names reach fsshare validated by the manager,
// at its edge, and are not checked again here; template and snapshot
// names, which fsshare also reads back from disk, are.
//
// A pool's backend is the driver that makes, snapshots, clones, exports
// and caps its zones' layers: everything that differs between backends is
// a method of layerBackend (backend_linux.go), implemented in the
// backend's own file (overlay_linux.go, btrfs_linux.go). A new storage
// backend is one such file plus one line in the backends table in
// backend_linux.go, which detection, the unknown-backend error and what
// PoolInfo tells the manager all derive from; nothing else in fsshare or
// the manager names a backend.
package fsshare
