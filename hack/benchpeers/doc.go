//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
)

// writeDoc rewrites docs/benchmarks.md around the latest table: how to run
// it, what each scenario measures and how, the machine and the date.
func writeDoc(path string, r *Results, table string) error {
	mode := "full (`make bench`)"
	if r.Quick {
		mode = "quick (`make bench-quick`): fewer runs and smaller scale than `make bench`"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Benchmarks: zoned against its peers

This file is written by `+"`make bench`"+` (hack/benchpeers); do not edit the
figures by hand. Each figure is the median of the runs shown, with the
smallest and largest; a tool that cannot run a scenario here says why
instead of a number. "zoned/peer" is zoned's median divided by the peer's:
below 1 zoned is faster (or smaller), above 1 slower (or larger); for
throughput, above 1 is better.

## How to run

`+"```"+`sh
make bench          # every scenario, full scale (tens of minutes)
make bench-quick    # fewer runs, smaller scale: a few minutes
make bench ARGS='-only lifecycle,boot -runs 50'
`+"```"+`

As root on a Debian host. `+"`make bench`"+` builds zoned (hack/build.sh),
installs the peers from Debian's packages (hack/setup.sh with the Makefile's PEERS: runc, crun,
lxc, systemd-container, debootstrap), starts a zoned daemon of its own
(socket and data under /var/tmp/zoned-bench-<rand>, cgroup parent
/zoned-bench-<rand>/zoned), runs every scenario for zoned and each peer on
the same root filesystems, prints the table, writes bench-results.json and
rewrites this file. Every peer gets a cgroup below the same
/zoned-bench-<rand>; the runner removes everything it made — zones, peers'
containers, overlay mounts, network namespaces, cgroups, directories — at
the end, on failure and on Ctrl-C, and never touches a cgroup it did not
create.

## Latest run

- Date: %s
- Mode: %s
- Machine: %s
- Load average (1 min) at start and end: %.1f and %.1f on %d cores

%s
## What each scenario does

1. **Lifecycle** (busybox root: the zoned busybox template, seen by each
   peer through an overlay of its own). zoned: create + start + exec
   /bin/true + forced stop + destroy through the API (client package).
   runc and crun: `+"`run`"+` of /bin/true as the container's process with
   an absolute cgroup path below the benchmark's (crun inside `+"`unshare -m`"+`
   with /sys/fs/cgroup/unified unmounted there, as it refuses hybrid
   cgroups). lxc: `+"`lxc-copy -s -B overlay`"+` of a base container made with
   `+"`lxc-create -t none`"+` on a copy of the root, `+"`lxc-start`"+`, `+"`lxc-attach`"+`
   /bin/true, `+"`lxc-stop -k`"+`, `+"`lxc-destroy`"+`, with lxc.cgroup.relative and
   lxc.cgroup.dir.{container,monitor} below the benchmark's group. The
   tools alternate within each round, after one warm-up cycle each.
2. **Boot** (Debian bookworm minbase with systemd-sysv and dbus, built once
   by zoned's debootstrap template and cached in /var/cache/zoned; the
   peers boot a copy of that very root, same masked units): time from the
   start command until `+"`systemctl is-system-running`"+` answers running
   (or degraded, noted), polled through zoned exec, lxc-attach, and
   nsenter into `+"`systemd-nspawn --boot --register=no --keep-unit`"+` started
   from a cgroup of the benchmark's own. The first run of each tool warms
   the cache and is not counted.
3. **Density**: N idle zones of each kind started one after the other,
   then measured once all answer (busybox: a command; Debian: running).
   PSS per zone sums the PSS of every process that exists because of the
   zone: its own processes, plus lxc's per-container lxc-start monitor
   (zoned has no per-zone supervisor; any process of the daemon outside
   the zones' groups would be added). Cgroup memory usage is the zone's
   group usage (page cache and kernel memory). Daemon RSS is zoned's one
   daemon with all N zones running. The min/max columns are over zones.
4. **Disk**: N zones created from the one Debian template; bytes per zone
   are the blocks allocated in each zone's own directory (hard links once);
   lxc for comparison with its overlay clones of the same root. Backends
   are a list in hack/benchpeers/disk.go: btrfs lights up once storage
   pools (issue #3) are in the daemon.
5. **API at scale** (zoned only: no peer has such an API): list and show
   latency with N stopped busybox zones, then K creates at once.
6. **Network**: one TCP stream for a few seconds between the benchmark's
   own tcp-source and tcp-sink, over a bare veth pair between two network
   namespaces (baseline) and between two zones on a zoned bridge network,
   which lights up once the daemon has /v1/networks (issue #4).
7. **HTTPS** (not in this table: `+"`go test ./integration -run '^$' -bench HTTPS`"+`):
   show and list over HTTPS on a kept-alive connection beside the same
   calls on the socket, logged as HTTPS/socket ratios, and full TLS 1.3
   handshakes with a client certificate per second, each proven by an
   answered request. On the 2-core test machine with 20 zones: show
   1.27x, list 1.40x the socket, about 700 handshakes/s.

## Notes

- The figures are only as quiet as the machine (see the load average
  above): on the shared 2-core development VM other engineers' builds and
  tests run at the same time, so absolute times there are noisy and
  inflated (runc's cycle measured alone on this VM is about 35 ms); the
  ratios, taken from interleaved runs, are the more useful figures, and a
  run on a quiet host is the one to quote.
- zoned's zones are unprivileged (a user namespace with an idmapped root)
  and get a cgroup namespace; the peers run privileged with their
  defaults, which is less work per container.
- runc and crun have no init and no separate exec in their cycle (the
  container's process is /bin/true), so their cycle does less than the
  others'.
`, r.Date.Format("2006-01-02 15:04 UTC"), mode, r.Machine, r.Machine.LoadStart, r.Machine.LoadEnd, r.Machine.Cores, table)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
