# The two commands of the README:
#   make run   - install dependencies if missing, build, and run device-api-server in the
#                foreground on unix://$(PWD)/run/device-api.sock with its state in the embedded
#                SQLite database run/state.db (DATASTORE=memory:// for a throwaway server)
#   make test  - install dependencies if missing, build, and run every test with ctest
#   make demo  - build what it needs and run scripts/demo.sh (docs/demo.md): an XID injected on a fake
#                GPU travels through devicectl, the device plugin and the NPD monitor, and recovers;
#                DEMO_UNATTENDED=1 runs it without pauses and exits 0 only if every step was seen
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
RUN_DIR := $(CURDIR)/run
RUN_ARGS ?=
DATASTORE ?= sqlite://$(RUN_DIR)/state.db

CLANG_BUILD_DIR ?= build-clang
CLANG_FORMAT ?= clang-format-14
CLANG_TIDY ?= run-clang-tidy-14
# What clang-format and clang-tidy look at: our C++ (tracked files only; nothing generated).
CXX_SOURCES = $(shell git ls-files '*.cc' '*.h')
TIDY_SOURCES = $(shell git ls-files 'src/*.cc' 'cmd/*.cc')

.PHONY: all deps configure build run test demo crash-test clean format lint thread-safety tidy asan tsan bench images

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	ninja -C $(BUILD_DIR) -j$(JOBS)

run: configure
	ninja -C $(BUILD_DIR) -j$(JOBS) device-api-server devicectl
	mkdir -p $(RUN_DIR)
	$(BUILD_DIR)/cmd/device-api-server/device-api-server \
	  --bind-address unix://$(RUN_DIR)/device-api.sock \
	  --health-probe-bind-address 127.0.0.1:50051 \
	  --metrics-bind-address 127.0.0.1:9090 \
	  --datastore-endpoint $(DATASTORE) $(RUN_ARGS)

DEMO_TARGETS = device-api-server nvml-provider gpu-device-plugin npd-gpu-monitor devicectl fake_nvml \
  devapi-fake-kubelet devapi-fake-npd

demo: configure
	ninja -C $(BUILD_DIR) -j$(JOBS) $(DEMO_TARGETS)
	BUILD_DIR=$(BUILD_DIR) ./scripts/demo.sh

test: build
	@./scripts/install-grpcurl.sh || echo "grpcurl not installed: its tests will be skipped"
	@./scripts/install-deploy-tools.sh || echo "deployment tools not all installed: their checks will be skipped"
	ctest --test-dir $(BUILD_DIR) -j$(JOBS) --output-on-failure $(CTEST_FLAGS)

# The sqlite:// crash loop (tests/integration/sqlite_crash_loop_test.cc): N cycles of start, write
# from 4 clients, SIGKILL at a random moment, integrity_check, restart, check nothing acknowledged
# was lost; ends with a "crash loop summary:" line. SEED=S repeats a run. make test runs 200 cycles.
N ?= 10000
SEED ?=
crash-test: configure
	ninja -C $(BUILD_DIR) -j$(JOBS) device-api-server sqlite_crash_loop_test
	$(BUILD_DIR)/tests/integration/sqlite_crash_loop_test --cycles $(N) $(if $(SEED),--seed $(SEED),)

# libFuzzer targets (tests/fuzz, docs/reliability.md "Fuzzing"): scripts/fuzz.sh builds build-fuzz
# (clang-14, ASan+UBSan) and runs each target FUZZ_SECONDS; exits non-zero on any crash.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
.PHONY: fuzz fuzz-smoke
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" JOBS=$(JOBS) ./scripts/fuzz.sh
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=5

asan:
	$(MAKE) test BUILD_DIR=build-asan CMAKE_FLAGS="-DDEVICEAPI_SANITIZE=address,undefined -DDEVICEAPI_BENCH=OFF"

# ThreadSanitizer where it can see (docs/reliability.md, "Thread sanitizing"): builds only the TSan
# targets (tests/tsan: the in-process stress test with the abseil shim, and its canary) with clang
# and runs them. The rest of the suite goes through gRPC, which TSan cannot see into.
TSAN_BUILD_DIR ?= build-tsan
TSAN_OPTIONS ?= halt_on_error=1 second_deadlock_stack=1
tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
	  -DCMAKE_CXX_COMPILER=clang++-14 -DDEVICEAPI_SANITIZE=thread -DDEVICEAPI_BENCH=OFF -DDEVICEAPI_WERROR=ON
	ninja -C $(TSAN_BUILD_DIR) -j$(JOBS) tsan_tests
	TSAN_OPTIONS="$(TSAN_OPTIONS)" ctest --test-dir $(TSAN_BUILD_DIR) -L tsan -j$(JOBS) --output-on-failure

# Rewrites every C++ file in the style of .clang-format.
format:
	$(CLANG_FORMAT) -i $(CXX_SOURCES)

# Fails on any file that `make format` would change.
lint: deps
	$(CLANG_FORMAT) --dry-run -Werror $(CXX_SOURCES)

# A clang build of everything (tests included) with -Wthread-safety -Werror: every ABSL_GUARDED_BY,
# ABSL_EXCLUSIVE_LOCKS_REQUIRED and ABSL_LOCKS_EXCLUDED is checked at compile time.
thread-safety: deps
	cmake -S . -B $(CLANG_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DDEVICEAPI_THREAD_SAFETY=ON -DDEVICEAPI_WERROR=ON $(CMAKE_FLAGS)
	ninja -C $(CLANG_BUILD_DIR) -j$(JOBS)

# clang-tidy (.clang-tidy) over the product's sources, with the clang build's compile commands.
tidy: thread-safety
	$(CLANG_TIDY) -quiet -j$(JOBS) -p $(CLANG_BUILD_DIR) $(addprefix $(CURDIR)/,$(TIDY_SOURCES))

clean:
	rm -rf $(BUILD_DIR) build-asan $(CLANG_BUILD_DIR) $(TSAN_BUILD_DIR) build-fuzz

# The benchmark suite (docs/performance.md): server vs etcd vs the bare-gRPC floor, < 10 minutes.
bench: configure
	BUILD_DIR=$(BUILD_DIR) BUILD_TYPE=$(BUILD_TYPE) ./scripts/bench.sh $(BENCH_ARGS)

# One image per binary from deployments/container/Dockerfile (--target <binary>), tagged
# $(IMAGE_REGISTRY)/<binary>:$(IMAGE_TAG), with docker or podman (CONTAINER_ENGINE=... to choose).
# Without a usable engine it says so and succeeds: no image is built. deployments/container/README.md.
IMAGES ?= device-api-server nvml-provider gpu-device-plugin npd-gpu-monitor devicectl
IMAGE_REGISTRY ?= deviceapi
GIT_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
IMAGE_TAG ?= $(GIT_COMMIT)
CONTAINER_ENGINE ?=
IMAGE_BUILD_FLAGS ?=

images:
	@engine="$(CONTAINER_ENGINE)"; \
	if [ -z "$$engine" ]; then \
	  for e in docker podman; do \
	    if ! command -v $$e >/dev/null 2>&1; then continue; fi; \
	    if $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	    echo "make images: $$e is installed but not usable ('$$e info' fails: no daemon or service?)"; \
	  done; \
	fi; \
	if [ -z "$$engine" ]; then \
	  echo "make images: no container engine found (docker or podman); no images built"; \
	  exit 0; \
	fi; \
	for b in $(IMAGES); do \
	  echo "make images: $$engine build --target $$b -t $(IMAGE_REGISTRY)/$$b:$(IMAGE_TAG)"; \
	  $$engine build -f deployments/container/Dockerfile --target $$b \
	    --build-arg GIT_COMMIT=$(GIT_COMMIT) $(IMAGE_BUILD_FLAGS) \
	    -t $(IMAGE_REGISTRY)/$$b:$(IMAGE_TAG) . || exit 1; \
	done

# The soak (tests/soak/soak_main.cc; docs/reliability.md "Soak"): the real device-api-server on
# sqlite:// for MINUTES under writers, 100 validated watchers, informers, the real consumers on
# their fakes, and restarts of all of them; prints a summary and exits 0 only on PASS.
# SOAK_ARGS adds flags (--seed S, --watchers N, --no-consumers, --keep, ...).
MINUTES ?= 60
SOAK_ARGS ?=
.PHONY: soak
soak: configure
	ninja -C $(BUILD_DIR) -j$(JOBS) soak_test
	$(BUILD_DIR)/tests/soak/soak_test --seconds $$(( $(MINUTES) * 60 )) $(SOAK_ARGS)
