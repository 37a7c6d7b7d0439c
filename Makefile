# batchscore: build, demo, test, bench.
# ONNX Runtime comes from the npm package onnxruntime-node (npm pack runs no
# install scripts) and is kept in third_party/, which git ignores.

GO        ?= go
ORT_VER   := 1.24.1
ORT_DIR   := third_party/onnxruntime-$(ORT_VER)
ORT_LIB   := $(ORT_DIR)/libonnxruntime.so.1
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
NODE_DIR  := third_party/node
MINIO_VER := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO     := third_party/minio/minio

export BATCHSCORE_ORT_LIB := $(CURDIR)/$(ORT_LIB)

# Every go command builds with -trimpath, as the release archive must (its
# bytes may not depend on the checkout's path): one build cache for the
# binary, the tests and the archive instead of a second compile of every
# dependency.
export GOFLAGS := -trimpath $(GOFLAGS)

.PHONY: all build ort notices dist image test-release demo test test-short vet bench bench-smoke bench-tricks fuzz fuzz-ci models models-families models-explain interop clean

all: build

# The library is taken out of the npm tarball, which is kept: the notices
# read ONNX Runtime's version and declared licence from its package.json.
ORT_NPM ?= $(ORT_DIR)/onnxruntime-node-$(ORT_VER).tgz
$(ORT_NPM):
	@mkdir -p $(dir $@)
	cd $(dir $@) && npm pack --silent onnxruntime-node@$(ORT_VER) >/dev/null

$(ORT_LIB): | $(ORT_NPM)
	@mkdir -p $(ORT_DIR)/pack
	tar -xzf $(ORT_NPM) -C $(ORT_DIR)/pack package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mv $(ORT_DIR)/pack/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $@
	rm -rf $(ORT_DIR)/pack

ort: $(ORT_LIB)

# THIRD_PARTY_NOTICES: the licences of what bin/batchscore links (go version
# -m, the module cache) and of ONNX Runtime. release/notices' test fails
# when it is stale or a linked module has no licence: run this and commit.
NOTICES_ARGS = -ort-npm $(abspath $(ORT_NPM)) -ort-license licenses/onnxruntime-LICENSE -kept licenses/modules
notices: build $(ORT_NPM)
	cd release && $(GO) run ./cmd/notices -bin ../bin/batchscore $(NOTICES_ARGS) -o ../THIRD_PARTY_NOTICES

# The release archive dist/batchscore-<version>-linux-amd64.tar.gz and its
# .sha256 (release/dist.sh), reproducible: mtimes are the commit's time.
# The image (release/cmd/ociimage): a Debian 12 root filesystem
# (release/rootfs.sh, cached in ~/.cache/batchscore) and the archive under
# /opt/batchscore, as an OCI layout, a docker-loadable tar and an SBOM.
DIST              ?= dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST_TGZ          := $(DIST)/batchscore-$(VERSION)-linux-amd64.tar.gz
RELEASE_ENV = VERSION=$(VERSION) COMMIT=$(COMMIT) SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
	ORT_LIB=$(abspath $(ORT_LIB)) ORT_NPM=$(abspath $(ORT_NPM)) ORT_VERSION=$(ORT_VER) GO=$(GO)
dist: $(ORT_LIB) $(ORT_NPM)
	$(RELEASE_ENV) OUT=$(abspath $(DIST)) release/dist.sh

image: dist
	rootfs=$$(release/rootfs.sh) && cd release && $(GO) run ./cmd/ociimage -rootfs "$$rootfs" \
		-dist $(abspath $(DIST_TGZ)) -version $(VERSION) -revision $(COMMIT) -ort-version $(ORT_VER) \
		-epoch $(SOURCE_DATE_EPOCH) -out $(abspath $(DIST))

# What is shipped, run: the archive on a clean Debian root filesystem, the
# image's layers as its user, both rebuilt to the same bytes, the notices.
test-release: image
	$(MAKE) --no-print-directory test-release-built
.PHONY: test-release-built
test-release-built: export BATCHSCORE_DIST := $(abspath $(DIST_TGZ))
test-release-built: export BATCHSCORE_IMAGE := $(abspath $(DIST))/batchscore-$(VERSION)-oci
test-release-built:
	cd release && $(GO) vet ./... && BATCHSCORE_ROOTFS=$$(./rootfs.sh) $(RELEASE_ENV) \
		$(GO) test -count=1 -timeout 20m ./...

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
# throwaway server). Built once per machine from the pinned module version
# (about 4 minutes on 2 cores) into the user's cache, which every clone
# links to from third_party/ (git ignores it).
MINIO_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/batchscore/minio-$(MINIO_VER)

$(MINIO):
	@mkdir -p $(dir $@)
	test -x $(MINIO_CACHE)/minio || GOBIN=$(MINIO_CACHE) $(GO) install github.com/minio/minio@$(MINIO_VER)
	ln -sfn $(MINIO_CACHE)/minio $@

minio: $(MINIO)

.PHONY: minio

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }

# make test: what it needs (fetched, built and vetted side by side), then
# the tests side by side: every package but the end-to-end one (go test
# -race; the goroutine-free ones in NORACE without it), the end-to-end
# tests in E2E_GROUPS processes of the same test binary, of about equal time
# (testdata/e2e/groups.sh), and TestCrashAnywhere (one table, about a
# hundred runs one after the other, alone the longest test) in one more; the
# fuzz targets and the bench smoke join the end-to-end tests' tail. The
# end-to-end tests spend much of their time waiting on the binary's
# start-up, servers and daemons, so one process of them all left a core idle.
# Each end-to-end process builds batchscore and starts PostgreSQL, MariaDB
# and MinIO in folders and on ports of its own.
E2E_ALONE  := TestCrashAnywhere
E2E_BIN    := $(CURDIR)/out/test/batchscore-e2e.test
E2E_GROUPS := 2
E2E_GROUP_TARGETS := $(addprefix test-e2e-group-,$(shell seq $(E2E_GROUPS)))
test: export BATCHSCORE_DUCKDB_NODE_MODULES := $(CURDIR)/$(NODE_DIR)/node_modules
test: export MINIO_BIN := $(CURDIR)/$(MINIO)
test:
	$(MAKE) --no-print-directory -j5 build interop vet minio e2e-test-binary image
	$(MAKE) --no-print-directory -j$(words x x x x x x $(E2E_GROUP_TARGETS)) --output-sync=target test-packages test-packages-norace $(E2E_GROUP_TARGETS) test-e2e-alone test-release-built fuzz-ci-late bench-smoke-late

# The fuzz targets and the bench smoke start once the package tests, the
# release tests and TestCrashAnywhere are done, beside the rest of the
# end-to-end tests, whose last minutes leave a core idle while they wait on
# servers and daemons.
.PHONY: fuzz-ci-late bench-smoke-late
fuzz-ci-late bench-smoke-late: test-packages test-packages-norace test-e2e-alone test-release-built
fuzz-ci-late:
	$(MAKE) --no-print-directory fuzz-ci
bench-smoke-late:
	$(MAKE) --no-print-directory bench-smoke

.PHONY: e2e-test-binary test-packages test-packages-norace test-e2e test-e2e-alone e2e-seconds $(E2E_GROUP_TARGETS)
# Without -race: these tests exec the built batchscore, which the race
# detector does not watch either way; under it, only the tests' own reads
# and row comparisons were watched, at several times their CPU.
e2e-test-binary:
	@mkdir -p $(dir $(E2E_BIN))
	$(GO) test -c -o $(E2E_BIN) ./cmd/batchscore

# The race detector needs two goroutines to find a race: these packages
# start none (no go statement, no t.Parallel, no errgroup, in code or tests)
# and run without it; under it gensnapshot's tests cost 19 times the CPU.
# A package that starts goroutines fails the check and must leave the list.
NORACE := cmd/gensnapshot internal/atomicfile internal/crashpoint jobs/numfmt jobs/spec jobs/validate/profile
test-packages:
	$(GO) test -race -count=1 -timeout 45m $$($(GO) list ./... | grep -v -e '/cmd/batchscore$$' $(addprefix -e '/,$(addsuffix $$',$(NORACE))))
test-packages-norace:
	@! grep -nE '(^|[^.a-zA-Z_])go +(func|[a-zA-Z_][a-zA-Z0-9_.]*\()|t\.Parallel\(|errgroup|\.Go\(' $(addsuffix /*.go,$(NORACE)) \
		|| { echo "the packages above start goroutines: take them out of NORACE"; exit 1; }
	$(GO) test -count=1 -timeout 45m $(addprefix ./,$(NORACE))

# Run from the package's folder, as go test runs it; the seconds are printed
# as go test prints a package's.
E2E_RUN = cd cmd/batchscore && start=$$(date +%s) && $(E2E_BIN) -test.count=1 -test.timeout=45m
E2E_END = ; rc=$$?; echo "cmd/batchscore $(1): exit $$rc, $$(( $$(date +%s) - start )) s"; exit $$rc
test-e2e:
	$(E2E_RUN) -test.skip='^($(E2E_ALONE))$$' $(call E2E_END,all but $(E2E_ALONE))
test-e2e-alone:
	$(E2E_RUN) -test.run='^($(E2E_ALONE))$$' $(call E2E_END,$(E2E_ALONE))
$(E2E_GROUP_TARGETS): test-e2e-group-%:
	names=$$(testdata/e2e/groups.sh $(E2E_BIN) $(E2E_GROUPS) $* '$(E2E_ALONE)') && \
		$(E2E_RUN) -test.run="^($$names)$$" $(call E2E_END,group $* of $(E2E_GROUPS))

# The seconds testdata/e2e/groups.sh balances the groups by: every
# end-to-end test in one process, as timed by go test -v.
e2e-seconds: e2e-test-binary
	cd cmd/batchscore && $(E2E_BIN) -test.count=1 -test.timeout=60m -test.v | tee $(CURDIR)/out/test/e2e-v.log
	{ sed -n '/^#/p' testdata/e2e/seconds.txt; sed -nE 's/^--- (PASS|FAIL): ([A-Za-z0-9_]+) \(([0-9.]+)s\)$$/\2 \3/p' out/test/e2e-v.log | sort; } > testdata/e2e/seconds.txt.new
	mv testdata/e2e/seconds.txt.new testdata/e2e/seconds.txt

# Every fuzz target of the module (go test -list finds them, so new ones
# join), one after the other, FUZZTIME each on top of its seed corpus and
# testdata/fuzz/. A failure leaves its input in testdata/fuzz/<Name>/:
# commit it with the fix, and it stays a regression test. A failure that
# leaves no input is Go 1.26's fuzz coordinator racing its own deadline
# (golang/go#75804, fixed in Go 1.27), not a finding: it is reported and
# passed over.
FUZZTIME ?= 2m
FUZZFLAGS ?=
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
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg >"$$log" 2>&1; then tail -1 "$$log"; continue; fi; \
		cat "$$log"; \
		if [ "$$(ls "$$inputs" 2>/dev/null | wc -l)" = "$$before" ] && grep -q '^    context deadline exceeded$$' "$$log"; then \
			echo "   no failing input was written: golang/go#75804, not a finding"; \
		else exit 1; fi; \
	done

# In make test: every target for a short while on one worker, so that the
# fuzzing shares the cores with the end-to-end tests instead of taking both.
fuzz-ci: FUZZTIME = 10s
fuzz-ci: FUZZFLAGS = -parallel 1

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

models: models-families models-explain
	/usr/bin/python3 testdata/models/build_models.py

# The tree-family test models (testdata/models/families): scikit-learn and
# XGBoost models exported by hand, with their frameworks' predictions.
models-families:
	/usr/bin/python3 testdata/models/build_tree_families.py

# The explanation test models (testdata/models/explain): XGBoost and
# scikit-learn models with their covers and XGBoost's pred_contribs.
models-explain:
	/usr/bin/python3 testdata/models/build_explain.py
	/usr/bin/python3 testdata/models/build_chain.py

clean:
	rm -rf bin out dist
