//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/install"
	"github.com/zoned-project/zoned/manager"
)

// subcommand runs `zoned install|uninstall|shutdown|recover ARGS` and returns its
// exit status; ok is false when args name no subcommand (the daemon runs).
func subcommand(args []string) (status int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	var err error
	switch args[0] {
	case "install":
		err = installCmd(args[1:])
	case "uninstall":
		err = uninstallCmd(args[1:])
	case "shutdown":
		err = shutdownCmd(args[1:])
	case "viewfs":
		err = viewfsCmd(args[1:])
	case "recover":
		err = recoverCmd(args[1:])
	default:
		return 0, false
	}
	if err == flag.ErrHelp {
		return 0, true
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "zoned %s: %v\n", args[0], err)
		return 1, true
	}
	return 0, true
}

func installCmd(args []string) error {
	fs := flag.NewFlagSet("zoned install", flag.ContinueOnError)
	var o install.Options
	fs.StringVar(&o.Prefix, "prefix", install.DefaultPrefix, "binaries go to PREFIX/bin")
	fs.StringVar(&o.UnitDir, "unit-dir", install.DefaultUnitDir, "where the systemd units go")
	fs.StringVar(&o.Zonectl, "zonectl", "", "zonectl binary to install (default: the one beside this zoned)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoned install [--prefix DIR] [--unit-dir DIR] [--zonectl PATH]\n\nInstalls zoned and zonectl, the systemd units, the group \"zoned\", and\nenables and starts zoned.socket when systemd is PID 1.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	o.Out = os.Stdout
	return install.Install(context.Background(), o)
}

func uninstallCmd(args []string) error {
	fs := flag.NewFlagSet("zoned uninstall", flag.ContinueOnError)
	var o install.UninstallOptions
	fs.StringVar(&o.Prefix, "prefix", install.DefaultPrefix, "where install put the binaries (PREFIX/bin)")
	fs.StringVar(&o.UnitDir, "unit-dir", install.DefaultUnitDir, "where install put the systemd units")
	fs.StringVar(&o.DataDir, "data-dir", manager.DefaultDataDir, "zoned's data directory, deleted only with --purge")
	fs.BoolVar(&o.Purge, "purge", false, "also delete the data directory (every zone's files) and the group; refused while zones run")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoned uninstall [--prefix DIR] [--unit-dir DIR] [--purge]\n\nStops and disables the units and removes them and the binaries. Running\nzones keep running; the data directory stays unless --purge.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root")
	}
	o.Out = os.Stdout
	o.Socket = api.DefaultSocket
	return install.Uninstall(context.Background(), o)
}

// shutdownCmd asks the running daemon to stop every zone because the host
// is going down (zoned-shutdown.service's ExecStop).
func shutdownCmd(args []string) error {
	fs := flag.NewFlagSet("zoned shutdown", flag.ContinueOnError)
	socket := fs.String("socket", api.DefaultSocket, "the daemon's API socket")
	timeout := fs.Duration("timeout", manager.DefaultStopTimeout, "each zone's time to shut down before it is killed")
	onlyHost := fs.Bool("only-at-host-shutdown", false, "do nothing unless systemd says the system is stopping (for zoned-shutdown.service)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: zoned shutdown [--timeout 30s] [--only-at-host-shutdown]\n\nStops every running zone gracefully, lowest autostart priority first,\nzones of one priority in parallel.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeout < time.Second {
		return fmt.Errorf("--timeout %s: must be at least 1s", *timeout)
	}
	if *onlyHost {
		// is-system-running says "stopping" once a shutdown has begun;
		// anything else (a stop of this unit by hand, an uninstall) must
		// leave the zones alone.
		out, _ := exec.Command("systemctl", "is-system-running").Output()
		if state := strings.TrimSpace(string(out)); state != "stopping" {
			fmt.Printf("system is %s, not shutting down: zones left running\n", state)
			return nil
		}
		// Asking an inactive zoned would start it through the socket in
		// the middle of the shutdown.
		if exec.Command("systemctl", "is-active", "--quiet", "zoned.service").Run() != nil {
			fmt.Println("zoned.service is not running: no zones to stop through it")
			return nil
		}
	}
	// Each priority group stops in parallel; the sum of the timeouts
	// bounds the whole call well enough.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := client.New(*socket).HostShutdown(ctx, api.HostShutdownRequest{TimeoutSeconds: int(timeout.Seconds())})
	if err != nil {
		return err
	}
	failed := 0
	for _, z := range res.Zones {
		if z.Error != "" {
			failed++
			fmt.Printf("zone %s (priority %d): %s\n", z.Name, z.AutostartPriority, z.Error)
			continue
		}
		fmt.Printf("zone %s (priority %d) stopped: %s\n", z.Name, z.AutostartPriority, z.LastExit)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d zones could not be stopped", failed, len(res.Zones))
	}
	fmt.Printf("%d zones stopped\n", len(res.Zones))
	return nil
}

// watchdog feeds systemd's watchdog while the manager is healthy, so a hung
// daemon is killed and restarted. It does nothing without WatchdogSec.
func watchdog(ctx context.Context, log *slog.Logger, m *manager.Manager) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog", "err", err)
		return
	}
	if interval <= 0 {
		return
	}
	// Ping at half the deadline; a health check gets a quarter of it.
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	log.Info("feeding the systemd watchdog", "interval", interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hctx, cancel := context.WithTimeout(ctx, interval/4)
		err := m.Healthy(hctx)
		cancel()
		if err != nil {
			log.Error("unhealthy: not feeding the watchdog", "err", err)
			continue
		}
		_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
	}
}

// newLogger logs to stderr; under systemd's journal (JOURNAL_STREAM set)
// without a time attribute, since journald stamps every line itself.
func newLogger(level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
