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
package fsshare
