//go:build linux

// Package view is the zone part that gives each running zone its /proc
// view: the FUSE server of package procview, run as a process of its own
// in a cgroup of its own, and the bind mounts and seccomp rules a zone's
// start adds for it. The part starts the server when a zone starts and
// none runs, replaces it when it dies and re-attaches the zones, and stops
// it a little after the last zone stops.
package view
