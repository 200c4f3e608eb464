# Plantbridge build. `make demo` runs the product on this machine; `make test` runs the
# tests; `make check` is the gate CI runs (format, vet, staticcheck, tests, Windows build).

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X github.com/plantbridge/plantbridge/internal/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
WINDOWS_CC  ?= x86_64-w64-mingw32-gcc
# Test timeout per package; the whole suite is expected to take a few minutes.
TEST_TIMEOUT ?= 12m

.PHONY: all build test check fmt vet staticcheck cross demo bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/plantbridge-agent ./cmd/plantbridge-relay

test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# The agent is a Windows service too; cgo (SQLite, Oracle) needs the mingw compiler.
cross:
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$(WINDOWS_CC) \
		$(GO) build -ldflags "$(LDFLAGS)" -o dist/windows-amd64/plantbridge-agent.exe ./cmd/plantbridge-agent

check: fmt vet staticcheck test cross

demo: build
	$(GO) run ./scripts/demo

# Benchmarks print each figure next to a baseline measured in the same run (the tunnel
# and connector ones do a fixed amount of work each, hence 1x). The connector read runs twice: with Go's default GC settings and with the agent's own
# (agent/runtime.go), which is how the agent runs it.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./tunnel/
	$(GO) test -run '^$$' -bench ReadMaximoWorkOrders -benchtime 1x -count 1 -timeout 30m ./connectors/
	GOGC=400 GOMEMLIMIT=64MiB $(GO) test -run '^$$' -bench ReadMaximoWorkOrders -benchtime 1x -count 1 -timeout 30m ./connectors/
	$(GO) test -run '^$$' -bench 'InitialSync|DrainBacklog' -benchtime 1x -count 1 -timeout 30m ./agent/internal/syncbench/
	$(GO) test -run '^$$' -bench 'AppendRecord|PutPeekAck' -benchtime 2s -count 1 -timeout 30m ./agent/syncer/ ./agent/outbox/
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 -timeout 30m ./relay/store/
	$(GO) test -run '^$$' -bench Delivery -benchtime 1x -count 1 -timeout 30m ./relay/webhooks/
	$(GO) test -run '^$$' -bench ListAPI -benchtime 1x -count 1 -timeout 30m ./relay/

clean:
	rm -rf bin dist .demo
