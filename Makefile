# StreamSync. `make test` is what CI runs (.ci/run).
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -s -w -X main.stamped=$(VERSION)
# The commit's time dates the files of make dist (reproducible builds).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
# The .deb's Maintainer field, "Name <address>" (mkdist has a placeholder).
DEB_MAINTAINER ?=
PKGS     := ./...
# staticcheck's version, pinned: a new release may report new findings.
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build dist run test test-deps vet jscheck lint portable fuzz fuzz-short soak bench clean

all: build

## build: a static, version-stamped binary in bin/streamsync
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/streamsync ./cmd/streamsync

## dist: release files in dist/: for linux/amd64 and linux/arm64 a static binary
## in a tar.gz (README, LICENSE, example config, unit) and a .deb; SHA256SUMS
dist:
	rm -rf dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./packaging/mkdist -version $(VERSION) -arch amd64,arm64 -out dist $(if $(DEB_MAINTAINER),-maintainer '$(DEB_MAINTAINER)')

## run: the appliance on the embedded default config
run:
	$(GO) run ./cmd/streamsync

## test-deps: install what the tests need (chromium, nftables...) when missing
test-deps:
	./scripts/test-deps.sh

## test: vet, staticcheck, the macOS and Windows builds, the page's type check,
## every test with the race detector (browser and network-namespace tests
## included), then a short pass of every fuzz target
test: test-deps vet lint portable jscheck
	GO=$(GO) ./scripts/gotest.sh -race -count=1 -timeout 15m $(PKGS)
	FUZZTIME=2000x ./scripts/fuzz.sh

## fuzz: every fuzz target for FUZZTIME (default 30s) each
fuzz:
	./scripts/fuzz.sh

## soak: the real appliance under call churn for SOAK_DURATION (default 2m);
## prints goroutines, descriptors and memory at start and end
soak:
	$(GO) test -tags soak -race -count=1 -v -timeout 60m -run TestSoak ./internal/soak

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting" >&2; exit 1; }
	$(GO) vet $(PKGS)

## jscheck: type-check the call page's modules (web/static/*.js, JSDoc and
## // @ts-check) with the TypeScript compiler test-deps installs; emits nothing
jscheck:
	@test -x .cache/jscheck/node_modules/.bin/tsc || ./scripts/test-deps.sh
	.cache/jscheck/node_modules/.bin/tsc -p web/tsconfig.json

## lint: staticcheck at STATICCHECK_VERSION, fetched through the module proxy
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## portable: the tree vets for macOS and builds for Windows (Linux-only
## parts sit behind build tags)
portable:
	GOOS=darwin $(GO) vet $(PKGS)
	GOOS=windows $(GO) build $(PKGS)

## bench: StreamSync against coturn on loopback, writes BENCHMARKS.md (BENCH_QUICK=1: short, prints only)
bench:
	./scripts/bench.sh

clean:
	rm -rf bin dist
