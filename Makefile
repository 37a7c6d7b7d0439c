# batchscore: build, demo, test, bench.
# ONNX Runtime comes from the npm package onnxruntime-node (npm pack runs no
# install scripts) and is kept in third_party/, which git ignores.

GO        ?= go
ORT_VER   := 1.24.1
ORT_DIR   := third_party/onnxruntime-$(ORT_VER)
ORT_LIB   := $(ORT_DIR)/libonnxruntime.so.1
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X main.version=$(VERSION)
NODE_DIR  := third_party/node
MINIO_VER := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO     := third_party/minio/minio

export BATCHSCORE_ORT_LIB := $(CURDIR)/$(ORT_LIB)

.PHONY: all build ort demo test test-short vet bench bench-smoke bench-tricks fuzz fuzz-ci models interop clean

all: build

$(ORT_LIB):
	@mkdir -p $(ORT_DIR)/pack
	cd $(ORT_DIR)/pack && npm pack --silent onnxruntime-node@$(ORT_VER) >/dev/null
	tar -xzf $(ORT_DIR)/pack/onnxruntime-node-$(ORT_VER).tgz -C $(ORT_DIR)/pack package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mv $(ORT_DIR)/pack/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $@
	rm -rf $(ORT_DIR)/pack

ort: $(ORT_LIB)

# The binary finds the library next to itself.
build: $(ORT_LIB)
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/batchscore ./cmd/batchscore
	$(GO) build -o bin/gensnapshot ./cmd/gensnapshot
	cp -f $(ORT_LIB) bin/libonnxruntime.so

demo: build
	rm -rf out/churn_scores
	./bin/batchscore run configs/churn_nightly.yaml --date 2026-11-19
	./bin/batchscore run configs/churn_nightly.yaml --date 2026-11-20

# DuckDB (npm) reads our tables in the interop tests.
$(NODE_DIR)/node_modules/@duckdb/node-api:
	@mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && (test -f package.json || npm init -y >/dev/null) && npm install --silent --no-audit --no-fund @duckdb/node-api@1.5.6-r.1

interop: $(NODE_DIR)/node_modules/@duckdb/node-api

# MinIO serves the object-storage tests (internal/testkit/miniotest starts its own
# throwaway server). Built once from the pinned module version, about 4
# minutes on 2 cores; kept in third_party/, which git ignores.
$(MINIO):
	GOBIN=$(CURDIR)/third_party/minio $(GO) install github.com/minio/minio@$(MINIO_VER)

minio: $(MINIO)

.PHONY: minio
test: minio
test: export MINIO_BIN := $(CURDIR)/$(MINIO)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }

# BATCHSCORE_DEBUG_POISON: released Parquet read buffers are overwritten
# (io/parquetio/pooled.go), so a read after release shows in results.
test: build interop vet
	BATCHSCORE_DEBUG_POISON=1 BATCHSCORE_DUCKDB_NODE_MODULES=$(CURDIR)/$(NODE_DIR)/node_modules $(GO) test -race -count=1 -timeout 45m ./...
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory bench-smoke

# Every fuzz target of the module (go test -list finds them, so new ones
# join), one after the other, FUZZTIME each on top of its seed corpus and
# testdata/fuzz/. A failure leaves its input in testdata/fuzz/<Name>/:
# commit it with the fix, and it stays a regression test. A failure that
# leaves no input is Go 1.26's fuzz coordinator racing its own deadline
# (golang/go#75804, fixed in Go 1.27), not a finding: it is reported and
# passed over.
FUZZTIME ?= 2m
fuzz fuzz-ci:
	@set -e; list=$$($(GO) test -list '^Fuzz' ./...); \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { names = names " " $$1 } /^ok/ { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2 "," a[i]; names = "" }'); \
	test -n "$$targets" || { echo "no fuzz targets found" >&2; exit 1; }; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for t in $$targets; do \
		pkg=$${t%,*}; name=$${t#*,}; \
		inputs=$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$name; \
		before=$$(ls "$$inputs" 2>/dev/null | wc -l); \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg >"$$log" 2>&1; then tail -1 "$$log"; continue; fi; \
		cat "$$log"; \
		if [ "$$(ls "$$inputs" 2>/dev/null | wc -l)" = "$$before" ] && grep -q '^    context deadline exceeded$$' "$$log"; then \
			echo "   no failing input was written: golang/go#75804, not a finding"; \
		else exit 1; fi; \
	done

fuzz-ci: FUZZTIME = 15s

# make bench on a 50,000-row snapshot, one round, no SQL and no RSS runs:
# a check that the bench still runs, not a measurement.
bench-smoke: build
	BENCH_OUT=out/bench-smoke BENCH_ROWS=50000 BENCH_ROUNDS=1 BENCH_ORT_TIME=200ms BENCH_CHECKS_TIME=200ms \
		BENCH_SKIP_RSS=1 BENCH_SKIP_SQL=1 ./testdata/bench/run.sh

test-short: build
	$(GO) test -short -count=1 ./...

bench: build
	./testdata/bench/run.sh

# What each speed trick earns and the native engines' per-chunk check costs,
# end to end, as ratios of builds with and without it (BENCHMARKS.md).
bench-tricks: build
	./testdata/bench/tricks.sh

models:
	/usr/bin/python3 testdata/models/build_models.py

clean:
	rm -rf bin out
