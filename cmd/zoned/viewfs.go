//go:build linux

package main

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/zoned-project/zoned/manager"
	"github.com/zoned-project/zoned/procview"
)

// viewfsCmd is `zoned viewfs`: the FUSE server of zones' /proc view, a
// process of its own that outlives daemon restarts. The daemon starts it;
// nobody needs to run it by hand.
func viewfsCmd(args []string) error {
	fs := flag.NewFlagSet("zoned viewfs", flag.ContinueOnError)
	state := fs.String("state", filepath.Join(manager.DefaultDataDir, "procview"), "the view's state directory (DATA/procview)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return procview.Serve(*state, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}
