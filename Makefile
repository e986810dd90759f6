# make bench        every scenario against the peers (tens of minutes); refreshes docs/benchmarks.md
# make bench-quick  the same with fewer runs and smaller scale (a few minutes)
# make bench ARGS='-only lifecycle,boot'   pass flags to the runner (see hack/benchpeers)
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
ARGS ?=
# The peers, from Debian's packages (runc is in hack/setup.sh already).
PEERS = crun lxc systemd-container
QUICK ?=

.PHONY: bench bench-quick bench-build build

build:
	hack/build.sh

bench-build: build
	CGO_ENABLED=0 $(GO) build -o bin/benchpeers ./hack/benchpeers

bench: bench-build
	hack/setup.sh $(PEERS)
	bin/benchpeers -zoned bin/zoned $(if $(QUICK),-quick) $(ARGS)

bench-quick:
	$(MAKE) bench QUICK=1
