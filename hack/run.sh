#!/usr/bin/env bash
# run.sh — the main job on its defaults: install what is needed, build,
# start zoned (state in /var/lib/zoned/zoned.db, API on
# /run/zoned/zoned.sock), create a zone from the built-in busybox
# template, start it and show it running. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
hack/build.sh
install -m 0755 bin/zoned bin/zonectl /usr/local/bin/

SOCK=/run/zoned/zoned.sock
if ! zonectl --socket "$SOCK" info >/dev/null 2>&1; then
	echo "run: starting zoned (log: /var/log/zoned.log)"
	# Its own session, so the daemon does not end with this shell; zones
	# do not depend on the daemon anyway.
	setsid /usr/local/bin/zoned >>/var/log/zoned.log 2>&1 < /dev/null &
	for _ in $(seq 100); do zonectl --socket "$SOCK" info >/dev/null 2>&1 && break; sleep 0.1; done
	zonectl --socket "$SOCK" info >/dev/null || { echo "run: zoned did not start; see /var/log/zoned.log" >&2; tail -20 /var/log/zoned.log >&2; exit 1; }
fi
zonectl info

if ! zonectl show demo >/dev/null 2>&1; then
	zonectl create demo --template busybox --memory 256M --pids 512 --cpu-limit 100%
fi
if [ "$(zonectl show demo -o json | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p' | head -1)" != running ]; then
	zonectl start demo
fi
echo
zonectl list
echo
echo "\$ zonectl exec demo -- sh -c 'hostname; ps'"
zonectl exec demo -- sh -c 'hostname; ps'
cat <<'MSG'

The zone "demo" is running. Next:
  zonectl enter demo                 a shell inside it (exit to leave)
  zonectl set demo --memory 512M     change its limits live
  zonectl stop demo && zonectl destroy demo
  zonectl template create bookworm --from debootstrap --suite bookworm --include systemd-sysv,dbus
MSG
