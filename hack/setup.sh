#!/usr/bin/env bash
# setup.sh [PKG...] — install what zoned, its tests and its benchmarks
# need on a Debian host, from Debian's packages and the Go module proxy
# only, and the Debian packages named as arguments too (make bench passes
# the peer tools). Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "setup: run as root (zoned manages namespaces, cgroups and mounts)" >&2; exit 1; }

# Debian packages: gcc and libc6-dev for the cgo pre-runtime namespace
# entry (namespaces/nsenter); debootstrap for Debian templates; dpkg-deb
# unpacks busybox-static for the built-in template; runc for the
# benchmark; the rest are tools the tests and the lane use.
PKGS=(gcc libc6-dev git ca-certificates debootstrap runc procps iproute2 nftables
      btrfs-progs e2fsprogs xz-utils zstd util-linux kmod
      python3)  # docs/examples/panel.py, run by integration/panel_test.go
PKGS+=(iputils-ping iperf3) # netvirt: tests ping from namespaces they make; its benchmark runs iperf3
PKGS+=("$@")
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the toolchain this project's go.mod asks for. Debian's golang-go is
# too old; the machines this project targets have Go in /usr/local/go.
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
	echo "setup: no Go toolchain found; install Go $(sed -n 's/^go //p' go.mod) or newer into /usr/local/go" >&2
	exit 1
fi
go mod download
