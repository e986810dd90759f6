//go:build linux

// Package integration holds zoned's end-to-end tests: each test builds the
// real binaries, starts a real daemon on its own socket, data directory and
// cgroup parent, drives it through the client package or zonectl, and checks
// on the kernel's side (cgroup files, processes) that what the API says is
// true and that nothing is left behind.
//
// The tests need root and a Linux kernel with namespaces, cgroups and
// overlayfs; they skip with the missing feature named otherwise.
package integration
