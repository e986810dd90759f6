#!/usr/bin/env bash
# unit-coverage.sh — the manager's unit tests must run without root and
# cover at least MIN_COVERAGE percent of its statements (issue #16): its
# lifecycle is tested against fakes of the runtime, cgroups, storage and
# parts (manager/fakes_linux_test.go), not only by the root-only
# integration tests. The test binary is built as the caller (root's module
# cache is not readable by others) and run as user nobody, so a test that
# quietly needs root fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
min=${MIN_COVERAGE:-50}

tmp=$(mktemp -d /tmp/zoned-unit-coverage.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go test -c -cover -o "$tmp/manager.test" ./manager
# nobody runs the binary, writes the profile there and uses it as HOME.
chmod 0755 "$tmp/manager.test"
chmod 1777 "$tmp"
# Not root already: run as the caller, who is no more privileged.
asnobody=()
[ "$(id -u)" != 0 ] || asnobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
(cd manager && "${asnobody[@]}" env HOME="$tmp" \
	"$tmp/manager.test" -test.count=1 -test.coverprofile="$tmp/manager.cov") >"$tmp/test.log" 2>&1 || {
	cat "$tmp/test.log" >&2
	echo "unit-coverage: manager's unit tests fail as user nobody" >&2
	exit 1
}
total=$(go tool cover -func="$tmp/manager.cov" | awk '/^total:/ { sub("%", "", $3); print $3 }')
echo "manager unit-test coverage without root: ${total}% (at least ${min}% required)"
if ! awk -v t="$total" -v m="$min" 'BEGIN { exit !(t + 0 >= m + 0) }'; then
	echo "unit-coverage: manager's coverage without root ${total}% is below ${min}%" >&2
	exit 1
fi
