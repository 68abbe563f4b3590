# framebridge: `make demo` shows it working, `make test` proves it. Both do
# their own set-up (`make deps`) on a fresh machine.

SHELL      := /bin/bash
GO         ?= go
BIN        := bin
# Fuzzing budgets are execution counts, about 10 s per target here: a
# duration -fuzztime can end in a spurious "context deadline exceeded"
# failure with Go 1.26's fuzz coordinator (go.dev/issue/75804, fixed in 1.27).
FUZZ_SHM    ?= 100000x
FUZZ_FRAMES ?= 500000x
APT_LIST   := .ci/apt-packages.txt
HAVE_CPP   := $(wildcard cpp/Makefile)
HAVE_JAVA  := $(wildcard java/pom.xml)
MVN        ?= mvn -B -ntp

.PHONY: all deps build demo test test-go test-race test-fuzz test-cpp test-java test-xlang \
        bench bench-json generate check-generated fmt lint clean

all: build

## deps: install missing Debian packages (apt-get when root, else print the command) and Go modules.
deps:
	@missing=$$(grep -v '^\s*#' $(APT_LIST) | grep -v '^\s*$$' | while read -r p; do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "deps: installing $$missing"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "deps: missing Debian packages; run:"; \
			echo "  sudo apt-get update && sudo apt-get install -y $$missing"; exit 1; \
		fi; \
	fi
	@command -v $(GO) >/dev/null || { echo "deps: Go 1.24 or newer is required (https://go.dev/dl/)"; exit 1; }
	@$(GO) mod download
	@cd bench/grpc && $(GO) mod download # the gRPC baseline's own module (bench/grpc), kept out of go.mod
	@# capnpc-go, the Cap'n Proto Go plugin, built from the pinned module version (go.mod) into bin/.
	@v=$$($(GO) list -m -f '{{.Version}}' capnproto.org/go/capnp/v3); \
	if [ ! -x $(BIN)/capnpc-go ] || [ "$$(cat $(BIN)/capnpc-go.version 2>/dev/null)" != "$$v" ]; then \
		echo "deps: go install capnproto.org/go/capnp/v3/capnpc-go@$$v into $(BIN)/"; \
		GOBIN=$(CURDIR)/$(BIN) $(GO) install capnproto.org/go/capnp/v3/capnpc-go@$$v && echo "$$v" >$(BIN)/capnpc-go.version; \
	fi

## build: the CLI, the gRPC bench baseline, and the C++ and Java libraries and peers when present.
build: deps
	$(GO) build -o $(BIN)/framebridge ./cmd/framebridge
	cd bench/grpc && $(GO) build -o $(CURDIR)/$(BIN)/framebridge-grpc-bench .
ifneq ($(HAVE_CPP),)
	$(MAKE) -C cpp peer
endif
ifneq ($(HAVE_JAVA),)
	cd java && $(MVN) -q -DskipTests package
endif

## demo: a Go gateway calls a C++ codec service and a Java model service through channels.
demo: build
	$(CXX) -std=c++17 -O2 -pthread -Icpp/include examples/codec-server/codec_server.cpp -o $(BIN)/codec-server
	$(GO) run ./examples/demo --codec $(BIN)/codec-server

## test: everything CI checks.
test: deps check-generated fmt lint test-go test-race test-fuzz test-cpp test-java test-xlang

test-go:
	$(GO) test -count=1 ./...
	cd bench/grpc && $(GO) test -count=1 ./...

test-race:
	$(GO) test -count=1 -race ./...

test-fuzz:
	@for pn in ./shm:$(FUZZ_SHM) ./frames:$(FUZZ_FRAMES); do p=$${pn%%:*}; n=$${pn##*:}; \
	for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
		echo "fuzz $$p $$f, $$n"; \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $$n -fuzzminimizetime 5s $$p || exit 1; \
	done; done

test-cpp:
ifneq ($(HAVE_CPP),)
	$(MAKE) -C cpp test
else
	@echo "test-cpp: no C++ library yet"
endif

test-java:
ifneq ($(HAVE_JAVA),)
	cd java && $(MVN) verify
else
	@echo "test-java: no Java library yet"
endif

## test-xlang: writer_reader matrix across languages through the peer programs.
test-xlang: build
	FRAMEBRIDGE_XLANG=1 $(GO) test -count=1 -v -run 'TestMatrix|TestChannel' ./internal/xlang

## bench: a full run (frames, calls, gRPC and socket baselines), written to docs/benchmarks.md.
bench: build
	$(BIN)/framebridge bench --markdown docs/benchmarks.md

## bench-json: a --quick run; only JSON lines on stdout (build output and progress go to stderr).
bench-json:
	@$(MAKE) -s build >&2
	@$(BIN)/framebridge bench --quick --json

# Every path `make generate` writes (schemas/generate.sh lists them).
GENERATED := schemas frames/fb frames/framescapnp \
             cpp/include/framebridge/frames/frame_generated.h \
             cpp/include/framebridge/frames/frame.capnp.h cpp/include/framebridge/frames/frame.capnp.c++ \
             java/src/main/java/io/framebridge/frames/fb

## generate: golden segment images and the code generated from schemas/frame.fbs and frame.capnp.
generate: deps
	$(GO) test -count=1 -run 'TestGoldenImages$$' ./shm -update
	$(GO) test -count=1 -run 'TestTypedVectors$$' ./internal/peer -update
	GO=$(GO) CAPNPC_GO=$(CURDIR)/$(BIN)/capnpc-go schemas/generate.sh

## check-generated: regenerating must not change any committed file (nor leave an untracked one).
check-generated: generate
	@git diff --exit-code -- $(GENERATED) || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@new=$$(git ls-files --others --exclude-standard -- $(filter-out schemas,$(GENERATED))); \
	if [ -n "$$new" ]; then echo "generated files not committed:"; echo "$$new"; exit 1; fi

## fmt: verify formatting (changes nothing).
fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint:
	$(GO) vet ./...
	cd bench/grpc && $(GO) vet ./...

clean:
	rm -rf $(BIN)
ifneq ($(HAVE_CPP),)
	$(MAKE) -C cpp clean
endif
ifneq ($(HAVE_JAVA),)
	cd java && $(MVN) -q clean
endif
