# vtep build, test and lab targets. `make lab` and `make bench` need root.

GO       ?= go
BIN      ?= bin
FUZZTIME ?= 10s

# The datapath packages that `make test` also runs under the race detector
# (the README's test command). Packages not in the tree yet are skipped.
RACE_PKGS    := vtep fdb internal/netlab gro gso tap underlay control
race_present := $(strip $(foreach p,$(RACE_PKGS),$(if $(wildcard $(p)/*.go),./$(p)/...)))
race_missing := $(strip $(foreach p,$(RACE_PKGS),$(if $(wildcard $(p)/*.go),,$(p))))

.PHONY: all build test vet lab lab-down bench fuzz-smoke clean

all: build

## build: the daemon and the CLI into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## test: every package, then the datapath packages with -race
test:
	$(GO) test -count=1 ./...
ifneq ($(race_missing),)
	@echo "make test: not in the tree yet, skipped for -race: $(strip $(race_missing))"
endif
ifneq ($(race_present),)
	$(GO) test -count=1 -race $(strip $(race_present))
endif

## vet: go vet and gofmt over the whole module
vet:
	$(GO) vet ./...
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## lab: three-namespace demo, two vtep hosts and one kernel vxlan host (root)
lab:
	scripts/lab.sh

## lab-down: remove a lab left running by `scripts/lab.sh up`
lab-down:
	scripts/lab.sh down

## bench: veth vs kernel vxlan vs vtep (offloads on/off) → bench/results.{json,md} (root)
bench:
	scripts/bench.sh

## fuzz-smoke: run every fuzz target for FUZZTIME (default 10s) each
fuzz-smoke:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

## clean: remove build outputs and raw benchmark data
clean:
	rm -rf $(BIN) bench/raw
