//go:build linux

// Package systemd holds zoned's systemd units, embedded so that
// `zoned install` needs nothing but the zoned binary itself.
package systemd

import "embed"

// Units are the unit files, at their base names. Their commands name
// /usr/local/bin; an install into another prefix rewrites that.
//
//go:embed *.service *.socket
var Units embed.FS

// BinDir is the directory the units' commands name.
const BinDir = "/usr/local/bin"
