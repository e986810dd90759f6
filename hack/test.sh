#!/usr/bin/env bash
# test.sh — the whole test suite: static checks, unit and kernel tests on
# this machine's kernel, then the tests that need what this kernel lacks
# (unified cgroup v2) on Debian's stock kernel in the qemu lane.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
export PATH="$PATH:/usr/local/go/bin"
export GOFLAGS=${GOFLAGS:-}

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || { echo "gofmt: not formatted: $unformatted" >&2; exit 1; }
go vet ./...
# Linux-only packages carry the build line as a whole; the client side
# builds for other OSes.
hack/linux-only.sh

echo "== manager unit tests without root, coverage gate"
hack/unit-coverage.sh

echo "== native tests (kernel $(uname -r), cgroup $(stat -fc %T /sys/fs/cgroup))"
go test -count=1 -timeout 40m ./... 2>&1 | tee /tmp/zoned-native-tests.log

echo "== fuzz smoke run"
FUZZTIME=${FUZZTIME:-10s} hack/fuzz.sh

echo "== benchmark smoke run (figures are reported, not asserted)"
ZONED_BENCH_ZONES=10 BENCHTIME=1x hack/bench.sh
# One lifecycle cycle of zoned and runc through the peer benchmark's
# runner (make bench runs all of it): proves the runner still works.
hack/build.sh
CGO_ENABLED=0 go build -o bin/benchpeers ./hack/benchpeers
bin/benchpeers -smoke -json ""

if [ "${ZONED_SKIP_LANE:-}" = "" ]; then
	echo "== stock-kernel lane"
	hack/lane-tests.sh
fi
