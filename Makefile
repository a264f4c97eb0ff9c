# Cairn: a thin wrapper around CMake/CTest.
#
# Quick start on a fresh Debian 12 machine, as root:
#   make demo     # install missing build dependencies, build (Release), run cairn-demo
#   make test     # ... and run the test suite (without the long crash runs), then
#                 # its chosen part under ASan+UBSan and TSan (sanitizer-test)
#
# Other targets: deps build crash-test bench bench-plot asan tsan install clean help

# Debian packages needed to build and test. `make deps` installs the missing ones.
DEB_PACKAGES := cmake g++ make pkg-config liburing-dev libxxhash-dev libroaring-dev libgtest-dev libbenchmark-dev clang libclang-rt-14-dev
# Only `make bench-plot` needs these (installed by it when run as root).
PLOT_PACKAGES := gnuplot-nox

BUILD_DIR  ?= build
BUILD_TYPE ?= Release
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE      ?= cmake
CTEST      ?= ctest
# Extra arguments for the demo / cairn-bench, e.g. make bench BENCH_ARGS="--duration 10 --repeat 5"
DEMO_ARGS  ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := build
# Also quiets the "Entering directory" lines of the make that CMake runs.
MAKEFLAGS += --no-print-directory
.PHONY: help deps configure build demo test sanitizer-test crash-test bench bench-plot fuzz asan tsan install clean

help:
	@echo "make demo        deps + Release build in $(BUILD_DIR)/ + run $(BUILD_DIR)/tools/cairn-demo"
	@echo "make test        deps + build + ctest -LE long (quick suite), then sanitizer-test"
	@echo "make sanitizer-test  ASan+UBSan build in $(ASAN_DIR)/, TSan in $(TSAN_DIR)/, each running its tests (labels sanitize, tsan)"
	@echo "make crash-test  deps + build + ctest -L long (CAIRN_CRASH_CYCLES=N CAIRN_CRASH_SEED=S, CAIRN_POWER_CYCLES=N CAIRN_POWER_SEED=S)"
	@echo "make bench       deps + build + cairn-bench on the write-path workloads and reads (BENCH_ARGS), then cairn-micro-bench"
	@echo "make bench-plot  deps + build + bench/plot.sh: durable appends, 1..16 writers, Cairn and peers -> bench/writers.png"
	@echo "make fuzz        the segment decoder, index file and dump tool fuzzers, FUZZ_SECONDS each (default 600)"
	@echo "make asan|tsan   sanitizer build in build-asan/ or build-tsan/ (CMake presets) + ctest -LE long"
	@echo "make install     cmake --install $(BUILD_DIR) --prefix \$$PREFIX (now $(PREFIX))"
	@echo "make deps        apt-get install the missing ones of: $(DEB_PACKAGES)"
	@echo "make clean       remove the build directories"

# Installs only what is missing; does nothing (no apt-get update) when all are present.
deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "deps: dpkg-query not found (not Debian?); make sure these or their equivalents are installed: $(DEB_PACKAGES)" >&2; \
	  exit 0; \
	fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
	  case "$$(dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null)" in \
	    *"install ok installed"*) ;; \
	    *) missing="$$missing $$p" ;; \
	  esac; \
	done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" -ne 0 ]; then \
	  echo "deps: missing Debian packages:$$missing" >&2; \
	  echo "deps: run 'make deps' as root, or: sudo apt-get install --no-install-recommends$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "deps: installing$$missing"; \
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

configure: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j $(JOBS)

demo: deps build
	@if [ ! -x $(BUILD_DIR)/tools/cairn-demo ]; then \
	  echo "demo: $(BUILD_DIR)/tools/cairn-demo was not built (tools/CMakeLists.txt defines target cairn-demo)" >&2; \
	  exit 1; \
	fi
	$(BUILD_DIR)/tools/cairn-demo $(DEMO_ARGS)
	@echo "offline check of the demo's store with the cairn tool:"
	$(BUILD_DIR)/tools/cairn verify $(if $(DEMO_ARGS),$(DEMO_ARGS),cairn-demo-data)
	@echo "its first three events, dumped from the segment file:"
	$(BUILD_DIR)/tools/cairn dump $$(ls $(if $(DEMO_ARGS),$(DEMO_ARGS),cairn-demo-data)/*.seg | head -1) --from 0 --to 2
	@echo "and the checkpoint the demo took:"
	$(BUILD_DIR)/tools/cairn verify $(if $(DEMO_ARGS),$(DEMO_ARGS),cairn-demo-data)-checkpoint

test: deps build
	$(CTEST) --test-dir $(BUILD_DIR) --output-on-failure -j2 -LE long
	$(MAKE) sanitizer-test

# Part of `make test`: Debug builds with ASan+UBSan and with TSan (the asan
# and tsan presets' configurations, in the same directories by default), each
# building and running only its tests: tests/CMakeLists.txt lists them
# (CAIRN_ASAN_TESTS: label sanitize; CAIRN_TSAN_TESTS, the concurrent ones:
# label sanitize_tsan).
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
# The power-loss test runs 6 cycles per test there (40 in the plain build).
ASAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CAIRN_POWER_DEFAULT_CYCLES=6
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 CAIRN_POWER_DEFAULT_CYCLES=6
# Single-threaded bulk tests of those binaries, minutes under TSan and run
# under ASan+UBSan anyway.
TSAN_SKIP := LargeWriteOfManyParts|ZerosAheadOfTheWriterUpToTheLimit
sanitizer-test: deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug "-DCAIRN_SANITIZE=address;undefined" -DCAIRN_BUILD_BENCH=OFF
	$(CMAKE) --build $(ASAN_DIR) -j $(JOBS) --target asan-tests
	$(ASAN_ENV) $(CTEST) --test-dir $(ASAN_DIR) --output-on-failure -j2 -L sanitize
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=thread -DCAIRN_BUILD_BENCH=OFF
	$(CMAKE) --build $(TSAN_DIR) -j $(JOBS) --target tsan-tests
	$(TSAN_ENV) $(CTEST) --test-dir $(TSAN_DIR) --output-on-failure -j2 -L tsan -E '$(TSAN_SKIP)'

# CAIRN_CRASH_* and CAIRN_POWER_* (CYCLES, SEED) may come from the environment or the make command line.
CRASH_ENV = $(if $(CAIRN_CRASH_CYCLES),CAIRN_CRASH_CYCLES=$(CAIRN_CRASH_CYCLES)) \
            $(if $(CAIRN_CRASH_SEED),CAIRN_CRASH_SEED=$(CAIRN_CRASH_SEED)) \
            $(if $(CAIRN_POWER_CYCLES),CAIRN_POWER_CYCLES=$(CAIRN_POWER_CYCLES)) \
            $(if $(CAIRN_POWER_SEED),CAIRN_POWER_SEED=$(CAIRN_POWER_SEED))
crash-test: deps build
	$(strip $(CRASH_ENV) $(CTEST) --test-dir $(BUILD_DIR) --output-on-failure -L long)

# The write-path workloads (each with its raw limits measured in the same
# run), then the reads, then the CPU micro-benchmarks. Add peers with
# BENCH_ARGS="--compare rocksdb,leveldb,lmdb,sqlite" (built when their
# Debian packages are installed).
BENCH_RUNS := \
  "--workload append-durable --writers 1" \
  "--workload append-durable --writers 16" \
  "--workload append-durable --writers 1 --inflight 1024" \
  "--workload append-batch --batch 1000 --event-size 1024 --inflight 4" \
  "--workload append-batch --batch 10 --writers 4 --durability none" \
  "--workload read-stream" \
  "--workload read-all"
bench: deps build
	@for run in $(BENCH_RUNS); do \
	  echo "== cairn-bench $$run $(BENCH_ARGS)"; \
	  $(BUILD_DIR)/bench/cairn-bench $$run $(BENCH_ARGS) || exit 1; \
	done
	$(BUILD_DIR)/bench/cairn-micro-bench

# Durable appends for 1..16 writers on Cairn and every peer built in:
# bench/writers.jsonl and the plot bench/writers.png (shown in bench/README.md).
# Installs $(PLOT_PACKAGES) through `deps` when gnuplot is missing and we are root;
# otherwise plot.sh says what to install.
bench-plot: deps build
	@command -v gnuplot >/dev/null 2>&1 || [ "$$(id -u)" -ne 0 ] || \
	  $(MAKE) deps DEB_PACKAGES="$(PLOT_PACKAGES)"
	sh bench/plot.sh $(BUILD_DIR) bench

# Longer runs of the fuzzers (the suite runs the segment decoder's for 30 s,
# the index files' and the dump tool's for 15 s each).
FUZZ_SECONDS ?= 600
fuzz: deps build
	CAIRN_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CTEST) --test-dir $(BUILD_DIR) --output-on-failure -L fuzz

# Sanitizer builds use the CMake presets (CMakePresets.json): build-asan/, build-tsan/.
asan tsan: deps
	$(CMAKE) --preset $@
	$(CMAKE) --build --preset $@ -j $(JOBS)
	$(CTEST) --preset $@

install: deps build
	$(if $(DESTDIR),DESTDIR=$(DESTDIR)) $(CMAKE) --install $(BUILD_DIR) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD_DIR) build-debug build-asan build-tsan
