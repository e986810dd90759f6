#!/bin/sh
# Smoke-runs every fuzz target for a short while (FUZZTIME, default 10s):
# long enough to catch a regression in input handling, short enough for CI.
# A failing input is written under the package's testdata/fuzz/ and makes
# this script fail; commit it as a regression seed once fixed.
set -eu
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
for target in \
	"FuzzDecodeCreateZone ./server" \
	"FuzzName ./internal/validate" \
	"FuzzHostname ./internal/validate" \
	"FuzzImportTar ./fsshare"; do
	set -- $target
	echo "== $1 ($2, $fuzztime)"
	# Minimizing a new interesting input may take 60 s by default, with
	# no executions counted meanwhile; a smoke run keeps it short.
	go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$2" || status=1
done
exit $status
