//go:build linux

// Package disk is the zone part that keeps a zone's disk quota
// (Resources.DiskBytes and DiskInodes): it checks a create's limits
// against the pool, records in the zone's spec which quota backend holds
// the cap (the storage makes the cap with the zone's layer, see
// fsshare.Volume.Create), attaches it at start and at daemon start (a
// disk image is mounted again after a reboot), changes it live, reads
// the zone's use for stats and the /proc view, counts the times the zone
// ran into it, and removes it at destroy.
//
// Files by job: part_linux.go the part's steps, usage_linux.go reading
// use and counters, hits_linux.go the quota hits watcher, pool_linux.go
// which backend a pool's zones get.
package disk
