//go:build linux

// Command zoned is the zone host daemon: it keeps the state of zones and
// templates, runs zones, and serves the API on a Unix socket. The same
// binary, re-executed, is each zone's first process and the helper that
// enters a running zone (see package namespaces).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/cgroups"
	"github.com/zoned-project/zoned/internal/units"
	"github.com/zoned-project/zoned/manager"
	"github.com/zoned-project/zoned/namespaces"
	"github.com/zoned-project/zoned/server"
)

func init() {
	// A re-executed zoned acting as a zone's init or exec helper must
	// take over before main runs; Dispatch returns at once otherwise.
	namespaces.Dispatch()
	// Whatever this process inherited without close-on-exec (a shell's
	// redirections, a directory its starter leaked) must not reach zones
	// or any other child; systemd's sockets stay usable here. Before
	// main, so nothing has forked yet.
	if err := namespaces.CloseOnExecFrom(3); err != nil {
		fmt.Fprintf(os.Stderr, "zoned: %v\n", err)
		os.Exit(1)
	}
}

func main() {
	if status, ok := subcommand(os.Args[1:]); ok {
		os.Exit(status)
	}
	var (
		dataDir      = flag.String("data-dir", manager.DefaultDataDir, "directory for the store, templates and zone layers")
		storePath    = flag.String("store", "", "bbolt state file (default DATA-DIR/zoned.db)")
		cacheDir     = flag.String("cache-dir", manager.DefaultCacheDir, "directory for templates' downloads and built Debian roots, kept between templates")
		socket       = flag.String("socket", api.DefaultSocket, "Unix socket the API listens on")
		cgroupParent = flag.String("cgroup-parent", manager.DefaultCgroupParent, "absolute cgroup under which zones get their groups")
		idmapBase    = flag.Uint("idmap-base", manager.DefaultIDMapBase, "first host UID/GID given to unprivileged zones (each takes 65536); no host user may have an ID at or above it")
		logLevel     = flag.String("log-level", "info", "debug, info, warn or error")
		httpsAddr    = flag.String("https-address", "", "also serve the API over HTTPS (TLS 1.3, trusted client certificates only) on this TCP address, like :8443; off when empty")
		tlsCert      = flag.String("tls-cert", "", "server certificate (PEM) for -https-address; default DATA-DIR/tls/server.crt, made on first start")
		tlsKey       = flag.String("tls-key", "", "key (PEM) of -tls-cert; default DATA-DIR/tls/server.key")
		metricsAddr  = flag.String("metrics-address", "", "also serve GET /metrics (only that) on this TCP address, like 127.0.0.1:9464; unauthenticated, so bind it where only monitoring reaches")
		version      = flag.Bool("version", false, "print the version and exit")
		importBytes  = flag.String("import-max-bytes", units.FormatBytes(manager.DefaultImportMaxBytes), "most bytes one template or zone import may unpack to (binary units); a zone's disk quota lowers it for that zone")
		importFiles  = flag.Int64("import-max-entries", manager.DefaultImportMaxEntries, "most entries (files, directories, links) one import may unpack")
		cgMax        = flag.Int("zone-cgroups-max", cgroups.DefaultTreeLimits.MaxDescendants, "groups a zone may create below its own (cgroup.max.descendants); 0 for no limit")
		cgDepth      = flag.Int("zone-cgroup-depth-max", cgroups.DefaultTreeLimits.MaxDepth, "levels of groups below a zone's own (cgroup.max.depth); 0 for no limit")
		nsLimits     = userNSLimitFlag{}
	)
	flag.Var(nsLimits, "zone-userns-limit", "NAME=VALUE: an unprivileged zone's /proc/sys/user/NAME maximum, such as max_mnt_namespaces=512 (repeat for more; unset ones keep their defaults)")
	flag.Parse()
	if *version {
		fmt.Println("zoned", manager.Version)
		return
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "zoned: bad -log-level %q\n", *logLevel)
		os.Exit(2)
	}
	log := newLogger(level)
	if *idmapBase > 1<<32-1-manager.IDMapSize {
		fmt.Fprintf(os.Stderr, "zoned: -idmap-base %d leaves no room for a zone's 65536 IDs\n", *idmapBase)
		os.Exit(2)
	}
	maxBytes, err := units.ParseBytes(*importBytes)
	if err != nil || maxBytes <= 0 || *importFiles <= 0 {
		fmt.Fprintf(os.Stderr, "zoned: -import-max-bytes %q and -import-max-entries %d must be positive\n", *importBytes, *importFiles)
		os.Exit(2)
	}
	cfg := manager.Config{DataDir: *dataDir, StorePath: *storePath, CacheDir: *cacheDir, CgroupParent: *cgroupParent, IDMapBase: uint32(*idmapBase),
		ImportMaxBytes: maxBytes, ImportMaxEntries: *importFiles, Logger: log}
	cfg.CgroupTree = &cgroups.TreeLimits{MaxDescendants: *cgMax, MaxDepth: *cgDepth}
	cfg.UserNSLimits = nsLimits.limits()
	web := httpsConfig{address: *httpsAddr, cert: *tlsCert, key: *tlsKey}
	if err := run(log, cfg, *socket, *metricsAddr, web); err != nil {
		log.Error("zoned failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, cfg manager.Config, socket, metricsAddr string, web httpsConfig) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("zoned must run as root")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	m, err := manager.New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	l, err := listener(socket)
	if err != nil {
		return err
	}
	opts, httpsListener, err := web.open(m, cfg.DataDir, log)
	if err != nil {
		return err
	}
	srv := server.New(m, log, opts)
	if httpsListener != nil {
		go func() {
			if err := srv.ServeHTTPS(ctx, httpsListener); err != nil {
				log.Error("HTTPS server", "err", err)
			}
		}()
	}
	if metricsAddr != "" {
		ml, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics address: %w", err)
		}
		log.Info("serving metrics", "address", ml.Addr().String())
		go func() {
			if err := srv.ServeMetrics(ctx, ml); err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
	}
	// Ready only now: the store is open and reconcile has adopted or
	// cleaned every zone, so the first request sees the truth.
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("notify systemd", "err", err)
	}
	log.Info("zoned ready", "socket", l.Addr().String(), "data_dir", cfg.DataDir, "version", manager.Version)
	go watchdog(ctx, log, m)
	// Zones keep running when the daemon stops: they are not its
	// children in any way that ties their life to it.
	err = srv.Serve(ctx, l)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	return err
}

// listener returns the socket systemd passed (socket activation), or
// opens socket itself.
func listener(socket string) (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	switch len(ls) {
	case 0:
	case 1:
		return ls[0], nil
	default:
		return nil, fmt.Errorf("socket activation passed %d sockets; zoned takes one", len(ls))
	}
	l, err := server.Listen(socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	return &removeOnClose{Listener: l, path: socket}, nil
}

// removeOnClose removes the socket file a daemon made itself when it stops.
type removeOnClose struct {
	net.Listener
	path string
}

func (r *removeOnClose) Close() error {
	err := r.Listener.Close()
	os.Remove(r.path)
	return err
}
