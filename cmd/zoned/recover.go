//go:build linux

package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/zoned-project/zoned/manager"
)

// recoverCmd runs `zoned recover`: it gets a data directory whose store is
// empty, damaged or newer than this zoned going again, with no daemon
// running (see docs/recovery.md).
func recoverCmd(args []string) error {
	fs := flag.NewFlagSet("zoned recover", flag.ContinueOnError)
	var (
		cfg       manager.Config
		idmapBase uint
		o         manager.RecoverOptions
	)
	fs.StringVar(&cfg.DataDir, "data-dir", manager.DefaultDataDir, "the daemon's data directory")
	fs.StringVar(&cfg.StorePath, "store", "", "the daemon's bbolt state file (default DATA-DIR/zoned.db)")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", manager.DefaultCgroupParent, "the daemon's cgroup parent, where running zones are found")
	fs.UintVar(&idmapBase, "idmap-base", manager.DefaultIDMapBase, "the daemon's -idmap-base")
	fs.BoolVar(&o.FromBackup, "from-backup", false, "first restore the newest backup in DATA-DIR/backup that passes the check (the current store is kept aside)")
	fs.StringVar(&o.Backup, "backup", "", "with -from-backup: restore this backup file instead of the newest")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoned recover [-data-dir DIR] [-store FILE] [-cgroup-parent CG] [-from-backup [-backup FILE]]\n\nRebuilds zoned's store when it is empty, damaged or newer than this zoned:\noptionally restores a backup, then rebuilds the record of every zone on disk\nthat has none (template, pool, host ID range, hostname, running init) and marks\nrunning the zones that run. It says what it could not rebuild. Refused while a\nzoned runs on the data directory.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	if idmapBase > 1<<32-1-manager.IDMapSize {
		return fmt.Errorf("-idmap-base %d leaves no room for a zone's 65536 IDs", idmapBase)
	}
	cfg.IDMapBase = uint32(idmapBase)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Out = os.Stdout
	return manager.Recover(cfg, o)
}
