#!/usr/bin/env bash
# service-test.sh — zoned as a systemd service, under real systemd as PID 1
# (the stock-kernel lane's --mode systemd). On the host it builds zoned and
# zonectl and boots a guest that runs this script with --guest, which:
#   installs with `zoned install --prefix`, checks socket activation (the
#   service is inactive until the first request), the socket's mode and
#   group; runs a busybox zone through `systemctl restart zoned` (same init
#   pid, still managed); hangs the daemon (SIGSTOP) and sees the watchdog
#   restart it with the zone untouched; checks that stopping
#   zoned-shutdown.service outside a host shutdown leaves zones running;
#   simulates a boot and checks autostart order (StartedAt by priority,
#   with the delay); and finally `zoned uninstall`. A second guest then
#   powers off with two zones running, and zoned-shutdown.service must stop
#   them gracefully, lowest autostart priority first.
# Usage: hack/lane/service-test.sh         (host; needs root)
set -euo pipefail

if [ $# = 0 ]; then
	cd "$(dirname "$0")/../.."
	export PATH="$PATH:/usr/local/go/bin"
	# zoned builds the busybox template from Debian's busybox-static,
	# downloaded with apt-get; the guest has no network, so it gets the
	# host's unpacked copy.
	if [ ! -x /var/cache/zoned/busybox-static/bin/busybox ]; then
		mkdir -p /var/cache/zoned
		(cd /var/cache/zoned && { ls busybox-static_*.deb >/dev/null 2>&1 || apt-get download busybox-static; } &&
			dpkg-deb -x "$(ls busybox-static_*.deb | tail -1)" busybox-static)
	fi
	BIN=$(mktemp -d /var/tmp/zoned-svc-bin.XXXXXX)
	trap 'rm -rf "$BIN"' EXIT
	go build -o "$BIN/zoned" ./cmd/zoned
	go build -o "$BIN/zonectl" ./cmd/zonectl
	cp hack/lane/service-test.sh "$BIN/"
	cd "$BIN"
	rc=0
	"$OLDPWD/hack/lane/lane" run --mode systemd -t "${ZONED_SERVICE_TEST_TIMEOUT:-900}" -m 2048 \
		-s "$BIN" -s /var/cache/zoned -- bash "$BIN/service-test.sh" --guest "$BIN" || rc=$?
	[ $rc = 0 ] || { echo "service-test: FAILED (status $rc)"; exit $rc; }
	# A real host shutdown: the guest powers off with zones running, and
	# zoned-shutdown.service must stop them through the daemon, lowest
	# priority first, before zoned itself goes down.
	echo "== host shutdown (second guest, systemctl poweroff)"
	"$OLDPWD/hack/lane/lane" run --mode systemd -t 600 -m 2048 \
		-s "$BIN" -s /var/cache/zoned -- bash "$BIN/service-test.sh" --guest-poweroff "$BIN" || rc=$?
	echo "--- what zoned-shutdown.service printed at the guest's shutdown:"
	cat "$BIN/shutdown.log" 2>/dev/null || true
	[ $rc = 0 ] || { echo "service-test: host shutdown FAILED (status $rc)"; exit $rc; }
	echo "ok   host shutdown stopped web1 (priority 1), then db (priority 5), gracefully"
	exit 0
fi

if [ "${1:-}" = --report ]; then
	# Runs as ExecStop of a unit ordered to stop after zoned-shutdown.service
	# at the guest's shutdown: checks what it did and reports the lane status.
	BIN=$2 tok=$3 rc=0
	log=$BIN/shutdown.log
	grep -q '^zone web1 (priority 1) stopped: poweroff$' "$log" && grep -q '^zone db (priority 5) stopped: poweroff$' "$log" &&
		[ "$(grep -n '^zone web1' "$log" | cut -d: -f1)" -lt "$(grep -n '^zone db' "$log" | cut -d: -f1)" ] || rc=1
	for p in $(cat "$BIN/pids"); do ! kill -0 "$p" 2>/dev/null || rc=1; done
	echo "$tok=$rc" >/dev/ttyS0
	exit 0
fi

if [ "${1:-}" = --guest-poweroff ]; then
	BIN=$2 PREFIX=/opt/zoned
	set -x
	truncate -s 2G /var/tmp/zoned-data.img && mkfs.ext4 -q -F /var/tmp/zoned-data.img
	mkdir -p /var/lib/zoned && mount -o loop /var/tmp/zoned-data.img /var/lib/zoned
	"$BIN/zoned" install --prefix $PREFIX >/dev/null
	"$PREFIX/bin/zonectl" create web1 --autostart --autostart-priority 1 >/dev/null
	"$PREFIX/bin/zonectl" create db --autostart --autostart-priority 5 >/dev/null
	"$PREFIX/bin/zonectl" start web1 && "$PREFIX/bin/zonectl" start db
	"$PREFIX/bin/zonectl" list -o json | grep -o '"init_pid": *[0-9]*' | grep -o '[0-9]*$' >"$BIN/pids"
	[ "$(wc -l <"$BIN/pids")" = 2 ] || exit 1
	rm -f "$BIN/shutdown.log"
	# zoned-shutdown's output goes to the share; the lane's status is
	# reported by a unit that stops after it (the lane's own unit stops
	# first at shutdown, and would power off at once: not here).
	tok=$(grep -o 'ZONED_LANE_RC_[0-9a-f]*' /etc/systemd/system/zoned-lane.service | head -1)
	[ -n "$tok" ] || exit 1
	mkdir -p /etc/systemd/system/zoned-shutdown.service.d /etc/systemd/system/zoned-lane.service.d /etc/systemd/system/zoned.service.d
	printf '[Unit]\nRequiresMountsFor=%s\n[Service]\nStandardOutput=append:%s/shutdown.log\n' "$BIN" "$BIN" \
		>/etc/systemd/system/zoned-shutdown.service.d/lane.conf
	printf '[Unit]\nRequiresMountsFor=/var/lib/zoned\n' >/etc/systemd/system/zoned.service.d/lane.conf
	printf '[Service]\nExecStopPost=\n' >/etc/systemd/system/zoned-lane.service.d/lane.conf
	cat >/etc/systemd/system/lane-shutdown-report.service <<UNIT
[Unit]
Before=zoned-shutdown.service
RequiresMountsFor=$BIN
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/bash $BIN/service-test.sh --report $BIN $tok
UNIT
	systemctl daemon-reload
	systemctl start lane-shutdown-report.service
	systemctl poweroff --no-block
	exec sleep infinity
fi

# ------------------------------------------------------------ in the guest
[ "${1:-}" = --guest ] && [ -n "${2:-}" ] || { echo "usage: $0 (on the host, no arguments)" >&2; exit 2; }
BIN=$2
PREFIX=/opt/zoned
CTL=$PREFIX/bin/zonectl
DATA=/var/lib/zoned
step() { echo "== $*"; }
ok() { echo "ok   $*"; }
fail() {
	echo "FAIL $*"
	echo "--- journal of zoned.service (tail)"
	journalctl -u zoned.service -u zoned.socket -u zoned-shutdown.service --no-pager 2>&1 | tail -60
	exit 1
}
# wait_until SECS DESC CMD...: polls CMD until it succeeds.
wait_until() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out after ${secs}s waiting for $what"
}
field() { # field ZONE KEY: a scalar from zonectl show -o json
	"$CTL" show "$1" -o json | sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" | head -1
}
epoch_ns() { date -d "$1" +%s%N; }
unit_state() { systemctl is-active "$1" 2>/dev/null || true; }

[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
systemctl is-system-running --wait >/dev/null || true

# Unprivileged zones need idmapped mounts of the templates' filesystem;
# this root is an overlay, which cannot be idmapped: give zoned ext4.
truncate -s 4G /var/tmp/zoned-data.img
mkfs.ext4 -q -F /var/tmp/zoned-data.img
mkdir -p $DATA && mount -o loop /var/tmp/zoned-data.img $DATA

step "install"
"$BIN/zoned" install --prefix $PREFIX || fail "zoned install"
[ -x $PREFIX/bin/zoned ] && [ -x $CTL ] || fail "binaries not in $PREFIX/bin"
grep -q "^ExecStart=$PREFIX/bin/zoned \$ZONED_OPTS$" /etc/systemd/system/zoned.service || fail "zoned.service does not run $PREFIX/bin/zoned"
getent group zoned >/dev/null || fail "group zoned not created"
[ "$(unit_state zoned.socket)" = active ] || fail "zoned.socket is $(unit_state zoned.socket)"
[ "$(systemctl is-enabled zoned.service)" = enabled ] || fail "zoned.service not enabled"
[ "$(unit_state zoned-shutdown.service)" = active ] || fail "zoned-shutdown.service is $(unit_state zoned-shutdown.service)"
ok "installed into $PREFIX, units enabled, socket listening"

step "socket activation"
[ "$(unit_state zoned.service)" = inactive ] || fail "zoned.service is $(unit_state zoned.service) before any request"
[ "$(stat -c '%a %G' /run/zoned/zoned.sock)" = "660 zoned" ] || fail "socket is $(stat -c '%a %G' /run/zoned/zoned.sock)"
"$CTL" info || fail "zonectl info through the socket"
[ "$(unit_state zoned.service)" = active ] || fail "zoned.service is $(unit_state zoned.service) after the first request"
ok "zoned.service started by the first request; socket 0660 group zoned"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" info 2>&1) && fail "nobody was served: $out"
echo "$out" | grep -q "permission denied" || fail "nobody refused without saying permission denied: $out"
setpriv --reuid=65534 --regid="$(getent group zoned | cut -d: -f3)" --clear-groups "$CTL" info >/dev/null || fail "member of zoned refused"
ok "nobody refused (permission denied), a member of zoned served"

step "a zone survives systemctl restart zoned"
"$CTL" create web1 --autostart --autostart-priority 1 || fail "create web1"
"$CTL" start web1 || fail "start web1"
pid=$(field web1 init_pid)
[ -n "$pid" ] && kill -0 "$pid" || fail "web1 has no live init pid ($pid)"
mainpid=$(systemctl show -p MainPID --value zoned.service)
systemctl restart zoned.service || fail "systemctl restart zoned"
[ "$(systemctl show -p MainPID --value zoned.service)" != "$mainpid" ] || fail "zoned's pid did not change on restart"
kill -0 "$pid" || fail "web1's init $pid died with the daemon restart"
[ "$(field web1 init_pid)" = "$pid" ] && [ "$(field web1 state)" = running ] || fail "web1 not adopted: $("$CTL" show web1)"
[ "$("$CTL" exec web1 -- cat /etc/hostname)" = web1 ] || fail "exec into web1 after the restart"
journalctl -u zoned.service --no-pager | grep -q 'msg=audit method=POST path=/v1/zones/web1/start zone=web1 uid=0' ||
	fail "no audit line for the start in the journal"
ok "web1 init $pid survived the restart and is managed (exec works); audit line in the journal"

# zoned.service protects the daemon (OOMScoreAdjust=-500); the zone's
# processes must not inherit that over the host's.
dadj=$(cat /proc/"$(systemctl show -p MainPID --value zoned.service)"/oom_score_adj)
iadj=$(cat /proc/"$pid"/oom_score_adj)
eadj=$("$CTL" exec web1 -- cat /proc/self/oom_score_adj)
[ "$dadj" -lt 0 ] && [ "$iadj" = 0 ] && [ "$eadj" = 0 ] ||
	fail "oom_score_adj: daemon $dadj, zone init $iadj, exec'd command $eadj (want <0, 0, 0)"
ok "daemon protected from the OOM killer ($dadj), the zone's init and commands not (0)"

step "watchdog restarts a hung daemon"
mkdir -p /etc/systemd/system/zoned.service.d
printf '[Service]\nWatchdogSec=6s\nTimeoutAbortSec=3s\nRestartSec=1s\n' >/etc/systemd/system/zoned.service.d/watchdog.conf
systemctl daemon-reload
systemctl restart zoned.service
"$CTL" info >/dev/null || fail "zoned not answering after the drop-in"
hung=$(systemctl show -p MainPID --value zoned.service)
restarts=$(systemctl show -p NRestarts --value zoned.service)
kill -STOP "$hung"
new_daemon() {
	local p
	p=$(systemctl show -p MainPID --value zoned.service)
	[ "$p" != 0 ] && [ "$p" != "$hung" ] && [ "$(unit_state zoned.service)" = active ]
}
wait_until 90 "systemd to restart the stopped daemon" new_daemon
[ "$(systemctl show -p NRestarts --value zoned.service)" -gt "$restarts" ] || fail "NRestarts did not grow"
journalctl -u zoned.service --no-pager | grep -qi "watchdog timeout" || fail "journal does not mention the watchdog timeout"
kill -0 "$hung" 2>/dev/null && fail "hung daemon $hung still exists"
kill -0 "$pid" || fail "web1 died with the hung daemon"
[ "$(field web1 state)" = running ] || fail "web1 not running after the watchdog restart"
rm -rf /etc/systemd/system/zoned.service.d && systemctl daemon-reload
ok "SIGSTOPped daemon $hung killed by the watchdog and restarted; web1 untouched"

step "stopping zoned-shutdown.service outside a host shutdown leaves zones alone"
systemctl stop zoned-shutdown.service
journalctl -u zoned-shutdown.service --no-pager | grep -q "not shutting down: zones left running" || fail "zoned-shutdown did not say why it did nothing"
[ "$(field web1 state)" = running ] || fail "web1 stopped by a stop of zoned-shutdown.service"
systemctl start zoned-shutdown.service
ok "zones keep running; the unit acts only when the system is stopping"

step "autostart order after a boot"
"$CTL" create db --autostart --autostart-priority 10 --autostart-delay 3s || fail "create db"
"$CTL" create cache --autostart --autostart-priority 10 || fail "create cache"
"$CTL" create idle || fail "create idle"
"$CTL" stop web1 || fail "stop web1"
systemctl stop zoned.service
echo 00000000-0000-0000-0000-000000000000 >$DATA/boot_id # the last run was another boot
systemctl start zoned.service
all_up() { for z in db cache web1; do [ "$(field $z state)" = running ] || return 1; done; }
wait_until 180 "db, cache and web1 to be autostarted" all_up
[ "$(field idle state)" = stopped ] || fail "idle (no autostart) was started"
db=$(epoch_ns "$(field db started_at)") cache=$(epoch_ns "$(field cache started_at)") web=$(epoch_ns "$(field web1 started_at)")
[ $((web - db)) -ge 3000000000 ] && [ $((web - cache)) -ge 3000000000 ] ||
	fail "web1 (priority 1) started $(((web - db) / 1000000)) ms after db and $(((web - cache) / 1000000)) ms after cache; want priority 10 first and its 3 s delay"
[ "$(cat $DATA/boot_id)" = "$(cat /proc/sys/kernel/random/boot_id)" ] || fail "boot marker not updated"
ok "db and cache (priority 10) started, then after 3 s web1 (priority 1); idle left stopped"

step "zoned shutdown stops zones, lowest priority first"
out=$("$PREFIX/bin/zoned" shutdown --timeout 20s) || fail "zoned shutdown: $out"
echo "$out"
[ "$(echo "$out" | grep -n 'zone web1' | cut -d: -f1)" = 1 ] || fail "web1 (priority 1) did not stop first"
for z in db cache web1; do [ "$(field $z state)" = stopped ] || fail "$z still $(field $z state)"; done
ok "all stopped, web1 first"

step "uninstall"
for z in web1 db cache idle; do "$CTL" destroy "$z" --force || fail "destroy $z"; done
"$PREFIX/bin/zoned" uninstall --prefix $PREFIX || fail "zoned uninstall"
for u in zoned.socket zoned.service zoned-shutdown.service; do
	[ ! -e /etc/systemd/system/$u ] || fail "$u left in /etc/systemd/system"
	[ "$(unit_state $u)" != active ] || fail "$u still active"
done
[ ! -e $PREFIX/bin/zoned ] && [ ! -e $PREFIX/bin/zonectl ] || fail "binaries left in $PREFIX/bin"
[ ! -e /run/zoned/zoned.sock ] || fail "socket left"
[ -e $DATA/zoned.db ] || fail "uninstall without --purge removed the store"
ok "units, binaries and socket gone; $DATA kept"
umount $DATA && rm -f /var/tmp/zoned-data.img
echo "service-test: all passed"
