#!/usr/bin/env bash
# linux-only.sh — keep the Linux boundary real. zoned's daemon and its
# parts only make sense on Linux, so their packages carry `//go:build
# linux` as a whole (as runc's do): on another OS they are empty, instead
# of compiling on paper and failing at run time. The portable packages
# below are what a remote client needs (zonectl and control panels) plus
# the pure logic beneath them, and they must build and vet elsewhere.
#
#   hack/linux-only.sh        check (hack/test.sh runs it)
#   hack/linux-only.sh -fix   add the build line to files that lack it
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

portable=(
	api client cmd/zonectl errdefs store manager/part pki trust
	internal/atomicfile internal/grant internal/revert internal/units internal/validate
)
mod=$(go list -m)

is_portable() {
	local p
	for p in "${portable[@]}"; do [ "$1" = "$p" ] && return 0; done
	return 1
}

fix=false
[ "${1:-}" = "-fix" ] && fix=true

bad=0
for dir in $(go list -f '{{.Dir}}' ./...); do
	rel=${dir#"$PWD"/}
	is_portable "$rel" && continue
	for f in "$dir"/*.go; do
		case "$f" in *_linux.go | *_linux_test.go) continue ;; esac
		head -1 "$f" | grep -q '^//go:build linux$' && continue
		if $fix; then
			if head -1 "$f" | grep -q '^//go:build'; then
				echo "$f: has another build line; fix it by hand" >&2
				bad=1
				continue
			fi
			{ printf '//go:build linux\n\n'; cat "$f"; } >"$f.tmp" && mv "$f.tmp" "$f"
			echo "tagged ${f#"$PWD"/}"
		else
			echo "linux-only: ${f#"$PWD"/} lacks //go:build linux (hack/linux-only.sh -fix)" >&2
			bad=1
		fi
	done
done

# On another OS the Linux-only packages must hold no files at all, and
# the portable ones must build and vet: all of them on the other Unixes
# (the store locks its file the Unix way), the client side on Windows.
for goos in darwin freebsd windows; do
	while read -r pkg n; do
		rel=${pkg#"$mod"}
		rel=${rel#/}
		if ! is_portable "$rel" && [ "$n" != 0 ]; then
			echo "linux-only: $pkg has $n files for GOOS=$goos" >&2
			bad=1
		fi
	done < <(GOOS=$goos go list -e -f '{{.ImportPath}} {{len .GoFiles}} {{len .CgoFiles}} {{len .TestGoFiles}} {{len .XTestGoFiles}}' ./... | awk '{print $1, $2 + $3 + $4 + $5}')
	pkgs=()
	for p in "${portable[@]}"; do pkgs+=("./$p"); done
	[ "$goos" = windows ] && pkgs=(./api ./client ./cmd/zonectl)
	GOOS=$goos go build "${pkgs[@]}" || { echo "linux-only: portable packages do not build for GOOS=$goos" >&2; bad=1; }
	GOOS=$goos go vet "${pkgs[@]}" || { echo "linux-only: portable packages do not vet for GOOS=$goos" >&2; bad=1; }
done
exit $bad
