#!/usr/bin/env bash
# bench-setup.sh — install the peer tools the benchmark (make bench)
# compares zoned with, from Debian's packages: runc, crun, lxc,
# systemd-nspawn (systemd-container) and debootstrap for the Debian root.
# Not part of the CI path (hack/setup.sh installs only runc, for the smoke
# run). Idempotent.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "bench-setup: run as root" >&2; exit 1; }
PKGS=(runc crun lxc systemd-container debootstrap iproute2 util-linux)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench-setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
