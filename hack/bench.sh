#!/usr/bin/env bash
# bench.sh — the benchmarks of issue 2: a zone's create + start + exec +
# stop + destroy against `runc run` of /bin/true, the cost of 100 running
# zones, and the building blocks a slow cycle is made of; and issue 6's
# API latency of list and show with ZONED_BENCH_ZONES zones (default 1000)
# and 100 concurrent creates (-bench API). Figures are reported, never
# asserted.
#
#   hack/bench.sh                  20 iterations each (BENCHTIME=20x)
#   BENCHTIME=1x hack/bench.sh     the quick smoke run CI uses
#   ZONED_BENCH_ZONES=300 hack/bench.sh -bench Density
#
# Extra arguments go to `go test` (say, -bench Lifecycle to run one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
bench=.
for a in "$@"; do
	case $a in -bench|-bench=*) bench= ;; esac
done
exec go test ./integration -run '^$' ${bench:+-bench "$bench"} -benchtime "${BENCHTIME:-20x}" -count 1 -timeout 60m -v "$@"
