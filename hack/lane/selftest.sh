#!/bin/bash
# selftest.sh - proves that the stock-kernel lane gives what the project's
# tests rely on, and that it reports statuses, failures and timeouts honestly.
#
#   hack/lane/selftest.sh            on the host: boots guests through hack/lane/lane
#   hack/lane/selftest.sh --guest    the feature checks alone (what the first runs inside a guest)
#
# Ends with "selftest: N passed, N failed" and exits non-zero if any check failed.
set -uo pipefail

SELF=$(realpath "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
LANE=$HERE/lane
CACHE=${ZONED_LANE_CACHE:-/var/cache/zoned-lane}
passed=0 failed=0

ok() { echo "CHECK $1: PASS${2:+ ($2)}"; passed=$((passed + 1)); }
bad() { echo "CHECK $1: FAIL${2:+ ($2)}"; failed=$((failed + 1)); }
summary() { echo "selftest: $passed passed, $failed failed"; [ "$failed" = 0 ]; }

# ----------------------------------------------------------- in the guest ---

guest_checks() {
	local T links
	[ "${ZONED_LANE:-}" = 1 ] || { bad env "ZONED_LANE is not 1: not in the lane?"; summary; return; }
	ok env "kernel $(uname -r)"

	# Tools the project's tests call, from the host root.
	local missing="" t
	for t in nft ip bridge mkfs.ext4 mkfs.xfs xfs_quota setquota repquota mkfs.btrfs btrfs chattr setpriv modprobe losetup; do
		command -v "$t" >/dev/null || missing+=" $t"
	done
	[ -z "$missing" ] && ok tools || bad tools "missing:$missing"

	# Unified cgroup v2 only, with the controllers the zones use handed down.
	local cg=/sys/fs/cgroup/zoned-test-lane c want="cpuset cpu io memory pids" sc
	sc=$(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)
	for c in $want; do [[ " $sc " == *" $c "* ]] || missing+=" $c"; done
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] && [ -z "$missing" ] &&
		! grep -q ' cgroup ' /proc/mounts; then
		ok cgroup2-unified "subtree_control: $sc"
	else
		bad cgroup2-unified "fs $(stat -f -c %T /sys/fs/cgroup), subtree_control '$sc', missing:$missing"
	fi
	if mkdir "$cg" && echo 64M >"$cg/memory.max" && echo 20 >"$cg/pids.max" &&
		echo "50000 100000" >"$cg/cpu.max" && echo 0 >"$cg/cpuset.cpus" && echo "default 50" >"$cg/io.weight" &&
		[ "$(cat "$cg/memory.max")" = 67108864 ] && [ "$(cat "$cg/pids.max")" = 20 ] &&
		# pids.max really stops forks: with 1 allowed, the subshell cannot start a child.
		echo 1 >"$cg/pids.max" &&
		! sh -c "echo \$\$ >$cg/cgroup.procs && /bin/true" 2>/dev/null &&
		[ "$(cat "$cg/pids.events" | awk '/max/{print $2}')" -ge 1 ]; then
		ok cgroup2-limits "memory.max, pids.max (enforced), cpu.max, cpuset.cpus, io.weight"
	else
		bad cgroup2-limits
	fi
	sleep 0.2
	rmdir "$cg" 2>/dev/null
	[ -e "$cg" ] && bad cgroup2-cleanup || ok cgroup2-cleanup

	# 802.1Q VLAN on a veth, and a VLAN-filtering bridge.
	if ip link add zvlane0 type veth peer name zvlane1 &&
		ip link add link zvlane0 name zvlane0.100 type vlan id 100 &&
		ip link set zvlane0 up && ip link set zvlane0.100 up &&
		ip -d link show zvlane0.100 | grep -q 'vlan protocol 802.1Q id 100'; then
		ok vlan-8021q
	else
		bad vlan-8021q
	fi
	if ip link add zbrlane type bridge vlan_filtering 1 && ip link set zvlane1 master zbrlane &&
		bridge vlan add dev zvlane1 vid 100 &&
		[ "$(cat /sys/class/net/zbrlane/bridge/vlan_filtering)" = 1 ] &&
		bridge vlan show dev zvlane1 | grep -qw 100; then
		ok bridge-vlan-filtering
	else
		bad bridge-vlan-filtering
	fi
	if nft add table inet zoned_lane_test && nft add chain inet zoned_lane_test c &&
		nft delete table inet zoned_lane_test; then ok nftables; else bad nftables; fi
	ip link del zvlane0.100 2>/dev/null
	ip link del zvlane0 2>/dev/null
	ip link del zbrlane 2>/dev/null
	links=$(ip -o link show | awk -F': ' '{print $2}' | grep -E '^(zv|zbr)' || true)
	[ -z "$links" ] && ok links-cleanup || bad links-cleanup "left: $links"

	T=$(mktemp -d /tmp/zoned-lane-selftest.XXXXXX)
	# ext4 project quota: a 1 MiB hard limit stops a 4 MiB write. Root with
	# CAP_SYS_RESOURCE may exceed ext4 quotas, so the writer drops it.
	local size
	if truncate -s 64M "$T/e4.img" && mkfs.ext4 -q -O quota,project "$T/e4.img" && mkdir "$T/e4" &&
		mount -o loop,prjquota "$T/e4.img" "$T/e4" && mkdir "$T/e4/p" && chattr -p 42 +P "$T/e4/p" &&
		setquota -P 42 0 1024 0 0 "$T/e4"; then
		setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource \
			dd if=/dev/zero of="$T/e4/p/f" bs=1M count=4 conv=fsync 2>"$T/dd.err"
		size=$(stat -c %s "$T/e4/p/f" 2>/dev/null || echo 0)
		if [ "$size" -le 1048576 ] && grep -q 'quota exceeded' "$T/dd.err" &&
			repquota -P "$T/e4" | grep -q '^#42'; then
			ok ext4-project-quota "write stopped at $size bytes: $(tail -1 "$T/dd.err")"
		else
			bad ext4-project-quota "file $size bytes, dd: $(tr '\n' ' ' <"$T/dd.err")"
		fi
	else
		bad ext4-project-quota "setup failed"
	fi
	# XFS project quota, enforced for root too.
	if truncate -s 320M "$T/x.img" && mkfs.xfs -q "$T/x.img" && mkdir "$T/x" &&
		mount -o loop,prjquota "$T/x.img" "$T/x" && mkdir "$T/x/p" &&
		xfs_quota -x -c 'project -s -p '"$T/x/p"' 7' -c 'limit -p bhard=1m 7' "$T/x" >/dev/null; then
		dd if=/dev/zero of="$T/x/p/f" bs=1M count=4 conv=fsync 2>"$T/dd.err"
		size=$(stat -c %s "$T/x/p/f" 2>/dev/null || echo 0)
		[ "$size" -le 1048576 ] && ok xfs-project-quota "write stopped at $size bytes" ||
			bad xfs-project-quota "file $size bytes"
	else
		bad xfs-project-quota "setup failed"
	fi
	if truncate -s 200M "$T/b.img" && mkfs.btrfs -q "$T/b.img" >/dev/null && mkdir "$T/b" &&
		mount -o loop "$T/b.img" "$T/b" && btrfs subvolume create "$T/b/sv" >/dev/null; then
		ok btrfs
	else
		bad btrfs
	fi
	local m
	for m in "$T/e4" "$T/x" "$T/b"; do mountpoint -q "$m" && umount "$m"; done
	rm -rf "$T"
	# Loop devices detach when their autoclear mount goes.
	sleep 0.5
	if ! grep -q zoned-lane-selftest /proc/mounts && [ ! -e "$T" ] &&
		! losetup -a | grep -q zoned-lane-selftest; then
		ok fs-cleanup
	else
		bad fs-cleanup "$(grep zoned-lane-selftest /proc/mounts; losetup -a)"
	fi
	summary
}

# ------------------------------------------------------------ on the host ---

# expect NAME WANT_RC [lane args...]: runs the lane, checks its status, times it.
expect() {
	local name=$1 want=$2 t0 rc
	shift 2
	t0=$(date +%s.%N)
	"$LANE" "$@" >"$OUT" 2>"$ERR"
	rc=$?
	ELAPSED=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
	if [ "$rc" = "$want" ]; then
		ok "$name" "exit $rc in ${ELAPSED}s"
		return 0
	fi
	bad "$name" "exit $rc, want $want, in ${ELAPSED}s"
	sed 's/^/    | /' "$OUT" "$ERR" | tail -40
	return 1
}

host_checks() {
	command -v bc >/dev/null || { echo "selftest: needs bc" >&2; exit 2; }
	"$LANE" setup >/dev/null 2>&1 || { bad setup; "$LANE" setup; summary; return; }
	ok setup
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	OUT=$tmp/out ERR=$tmp/err

	if expect guest-features 0 run -- "$SELF" --guest; then
		grep '^CHECK' "$OUT" | sed 's/^/    /'
	fi
	expect boot-true 0 run -- true && echo "    (boot + run + poweroff under $("$LANE" status | awk '/accelerator/{print $2}'): ${ELAPSED}s)"
	expect exit-false 1 run -- false
	expect exit-7 7 run -- sh -c 'exit 7'
	# Output and the status come back from a failing command.
	if expect failing-output 3 run -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 3'; then
		grep -qx to-stdout "$OUT" && grep -qx to-stderr "$ERR" && ok output-streams || bad output-streams
	fi
	# Shares are read-write at the same path; the cwd is kept.
	echo before >"$tmp/f"
	if expect share-rw 0 run -s "$tmp" -- sh -c "cd '$tmp' && [ \"\$(pwd)\" = '$tmp' ] && cat f && echo after >f"; then
		[ "$(cat "$tmp/f")" = after ] && ok share-written-back || bad share-written-back
	fi
	# A hung guest is killed at the timeout and reported as such.
	if expect timeout 124 run -t 20 -- sleep 60; then
		grep -q 'lane: guest timed out after 20 s' "$ERR" && ok timeout-message || bad timeout-message "$(cat "$ERR")"
		[ "$(echo "$ELAPSED < 32" | bc)" = 1 ] && ok timeout-prompt "${ELAPSED}s for -t 20" ||
			bad timeout-prompt "${ELAPSED}s for -t 20"
	fi
	# gotest: binaries built here, run in one boot, failures propagate.
	cd "$HERE/../.."
	expect gotest-pass 0 gotest -run 'TestLane' ./hack/lane/testdata/lanecheck && { grep -q -- '--- PASS: TestLaneEnvironment' "$OUT" && grep -q '^lane: [0-9]* passed, 0 failed' "$OUT" &&
		ok gotest-output || bad gotest-output; }
	expect gotest-fail 1 gotest -e LANECHECK_FAIL=1 -run 'TestLaneFailsOnRequest' ./hack/lane/testdata/lanecheck && { grep -q 'failing on request' "$OUT" && grep -q '^FAIL' "$OUT" && ok gotest-fail-visible || bad gotest-fail-visible; }
	# The systemd mode: a Debian root with systemd as PID 1, fully up.
	expect systemd-pid1 0 run --mode systemd -- sh -c \
		'[ "$(cat /proc/1/comm)" = systemd ] && systemctl is-system-running --wait && [ "$ZONED_LANE_MODE" = systemd ]'
	expect systemd-exit-7 7 run --mode systemd -- sh -c 'exit 7'
	# Nothing is left running or lying around.
	sleep 0.5
	local left
	left=$(ls -A "$CACHE/run" 2>/dev/null)
	[ -z "$left" ] && ok no-run-dirs-left || bad no-run-dirs-left "$left"
	left=
	local p
	for p in /proc/[0-9]*; do
		[[ "$(cat "$p/comm" 2>/dev/null)" == qemu* ]] || continue
		[[ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" == *"$CACHE/run/"* ]] && left+=" ${p#/proc/}"
	done
	[ -z "$left" ] && ok no-qemu-left || bad no-qemu-left "$left"
	summary
}

if [ "${1:-}" = --guest ]; then
	guest_checks
	exit
fi
host_checks
