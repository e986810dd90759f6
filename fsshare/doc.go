//go:build linux

// Package fsshare owns zone root filesystems: OS templates, stored once and
// shared read-only, and each zone's own copy-on-write layer over its
// template, so that N zones cost one template plus their own changes.
package fsshare
