# marcpipe front door. `make run` and `make test` work on a fresh Debian 12
# machine as root: they install missing packages (.ci/deps.sh), configure,
# build, and run. Build trees: build/ (release + tests), build-asan/,
# build-tsan/.
BUILD ?= build
JOBS ?= $(shell nproc)
PY ?= /usr/bin/python3
CORPUS ?= $(abspath ../shared/data)
CMAKE_ARGS ?=
CONFIGURE = cmake -S . -DMP_WERROR=ON -DPython3_EXECUTABLE=$(PY) $(CMAKE_ARGS)
SAMPLE = examples/data/sample.mrc
CLANG_FORMAT ?= clang-format
# The C sources `make format` formats and `make format-check` checks (not the
# copies a build leaves in bindings/python/build/).
FORMAT_FILES = $(shell find core stages bindings test perf examples -name build -prune -o \
                 -name '*.[ch]' -print)

.PHONY: all deps-run deps-test deps-bench configure build run test test-main test-asan test-tsan \
        test-fuzz bench soak format format-check clean help

all: build

help:
	@echo "make run     install deps, build, run the CLI on the bundled sample"
	@echo "make test    install deps, check formatting, build, run every test (Criterion, stress, pytest, ASan, TSan)"
	@echo "make bench   full perf harness (perf/PERFORMANCE.md)"
	@echo "make soak    long reliability runs (fuzzing, mutants, early closes)"
	@echo "make format  apply .clang-format (make format-check: check only; make test runs it)"

deps-run:
	@.ci/deps.sh run
deps-test:
	@.ci/deps.sh test
deps-bench:
	@.ci/deps.sh bench

configure:
	$(CONFIGURE) -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)

run: deps-run
	$(MAKE) --no-print-directory build CMAKE_ARGS="-DMP_BUILD_TESTS=OFF -DMP_BUILD_PERF=OFF -DMP_BUILD_FUZZ=OFF $(CMAKE_ARGS)"
	@echo "== marcpipe stats $(SAMPLE)   (the sample holds one damaged record on purpose: exit status 1)"
	@$(BUILD)/stages/cli/marcpipe stats $(SAMPLE) || [ $$? -eq 1 ]
	@echo "== marcpipe dump $(SAMPLE) | head -n 40"
	@$(BUILD)/stages/cli/marcpipe dump --quiet $(SAMPLE) | head -n 40

test: deps-test
	$(MAKE) --no-print-directory format-check
	$(MAKE) --no-print-directory test-main
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-fuzz

test-main:
	$(MAKE) --no-print-directory build CMAKE_ARGS="-DMP_BUILD_TESTS=ON $(CMAKE_ARGS)"
	cd $(BUILD) && MARCPIPE_CORPUS=$(CORPUS) ctest --output-on-failure -j$(JOBS) -LE soak --timeout 900

# Every Criterion suite and the pytest suites under ASan+UBSan.
test-asan:
	$(MAKE) --no-print-directory build BUILD=build-asan \
	  CMAKE_ARGS="-DMP_SANITIZE='address;undefined' -DCMAKE_BUILD_TYPE=Debug -DMP_BUILD_PERF=OFF -DMP_BUILD_EXAMPLES=OFF $(CMAKE_ARGS)"
	cd build-asan && MARCPIPE_CORPUS=$(CORPUS) MP_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -LE 'nosan|soak' --timeout 1200

# The stress executables under ThreadSanitizer (Criterion cannot run there).
test-tsan:
	$(MAKE) --no-print-directory build BUILD=build-tsan \
	  CMAKE_ARGS="-DMP_SANITIZE=thread -DMP_BUILD_PERF=OFF -DMP_BUILD_EXAMPLES=OFF -DMP_BUILD_PYTHON=OFF $(CMAKE_ARGS)"
	cd build-tsan && MARCPIPE_CORPUS=$(CORPUS) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(abspath test/tsan.supp)" \
	  ctest --output-on-failure -L stress --timeout 1200

bench: deps-bench build
	$(PY) perf/bench.py --build $(BUILD) --corpus $(CORPUS)

# Smoke fuzzing (about 20 s per libFuzzer target, regression inputs replayed
# first) in a clang build tree; skipped with a message without clang-14.
FUZZ_CC ?= clang-14
FUZZ_CMAKE = -DMP_BUILD_FUZZ=ON -DMP_BUILD_TESTS=OFF -DMP_BUILD_PERF=OFF -DMP_BUILD_EXAMPLES=OFF \
  -DMP_BUILD_PYTHON=OFF
test-fuzz:
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  CC=$(FUZZ_CC) $(CONFIGURE) -B build-fuzz $(FUZZ_CMAKE) >/dev/null && \
	  cmake --build build-fuzz -j$(JOBS) && \
	  cd build-fuzz && MARCPIPE_CORPUS=$(CORPUS) ctest --output-on-failure -L fuzz --timeout 600; \
	else echo "SKIP: $(FUZZ_CC) not found; smoke fuzzing skipped"; fi

# Long reliability runs (test/RELIABILITY.md): the larger spin model, 50,000
# mutants, 50,000 early closes, 2 min of pool churn, 5 min per fuzz target.
soak: deps-test
	$(MAKE) --no-print-directory build
	cd $(BUILD) && MARCPIPE_CORPUS=$(CORPUS) ctest --output-on-failure -L soak --timeout 3600
	@if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
	  CC=$(FUZZ_CC) $(CONFIGURE) -B build-fuzz $(FUZZ_CMAKE) >/dev/null && \
	  cmake --build build-fuzz -j$(JOBS) && \
	  cd build-fuzz && MARCPIPE_CORPUS=$(CORPUS) ctest --output-on-failure -L soak --timeout 3600; \
	else echo "SKIP: $(FUZZ_CC) not found; soak fuzzing skipped"; fi

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

# Fails on any file `make format` would change.
format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-tsan build-fuzz
