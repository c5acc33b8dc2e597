# journey: build, run, test. Needs only Go (>= 1.26) on PATH.
GO      ?= go
BIN     := bin/journey
DATA    ?= ./data
# make run's listen addresses: make run NATS=127.0.0.1:4223 HTTP=127.0.0.1:8081
NATS    ?= 127.0.0.1:4222
HTTP    ?= 127.0.0.1:8080
# Packages with goroutines of their own: also tested with the race detector.
RACE_PKGS := ./eventstore/... ./handlers/... ./projections/... ./internal/engine/...

.PHONY: all build run test testrace bench lint fmt clean browser

all: build

build:
	$(GO) build -o $(BIN) ./cmd/journey

run: build
	@echo "journey serve: embedded NATS on $(NATS), HTTP on $(HTTP), data in $(DATA)"
	@echo "In another terminal, publish simulated traffic and watch it arrive:"
	@echo "  bin/journey simulate --customers 200 --days 90 --seed 1 | bin/journey publish --nats-url nats://$(NATS) -"
	@echo "  curl -s $(HTTP)/metrics | grep journey_events"
	@echo "  curl -s '$(HTTP)/v1/customers/019431ed-5140-765a-94ef-b8c6ab4641cc?as_of=2025-04-01'"
	@echo "  bin/journey customer 019431ed-5140-765a-94ef-b8c6ab4641cc --as-of 2025-04-01 --server http://$(HTTP)"
	@echo "Stop with Ctrl-C (drains the batch in flight)."
	$(BIN) serve --data $(DATA) --nats-listen $(NATS) --http $(HTTP)

# browser: Chromium for the web page's browser tests, installed with apt-get
# when missing (the tests skip, saying so, when no browser can be found).
browser:
	@.ci/browser

test: browser
	$(GO) vet ./...
	$(GO) test ./...
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then \
		echo "$(GO) test -race $(RACE_PKGS)"; $(GO) test -race $(RACE_PKGS); \
	else echo "skipping go test -race: the race detector needs cgo (a C compiler)"; fi

testrace:
	$(GO) test -race ./...

bench:
	$(GO) test -run='^$$' -bench=. ./...

lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w .

clean:
	rm -rf bin
