#!/usr/bin/env bash
# build.sh — build zoned and zonectl into ./bin.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
version=$(git describe --always --dirty 2>/dev/null || echo dev)
mkdir -p bin
# zoned needs cgo: its exec helper joins a zone's namespaces in a C
# constructor, before the Go runtime starts threads.
CGO_ENABLED=1 go build -ldflags "-X github.com/zoned-project/zoned/manager.Version=$version" -o bin/zoned ./cmd/zoned
go build -ldflags "-X main.version=$version" -o bin/zonectl ./cmd/zonectl
