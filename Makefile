# The two commands of the README:
#   make run   - install dependencies if missing, build, and run device-api-server in the
#                foreground on unix://$(PWD)/run/device-api.sock with its state in the embedded
#                SQLite database run/state.db (DATASTORE=memory:// for a throwaway server)
#   make test  - install dependencies if missing, build, and run every test with ctest
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
RUN_DIR := $(CURDIR)/run
RUN_ARGS ?=
DATASTORE ?= sqlite://$(RUN_DIR)/state.db

.PHONY: all deps configure build run test clean format asan bench

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

test: build
	@./scripts/install-grpcurl.sh || echo "grpcurl not installed: its tests will be skipped"
	ctest --test-dir $(BUILD_DIR) -j$(JOBS) --output-on-failure $(CTEST_FLAGS)

asan:
	$(MAKE) test BUILD_DIR=build-asan CMAKE_FLAGS="-DDEVICEAPI_SANITIZE=address,undefined"

clean:
	rm -rf $(BUILD_DIR) build-asan

# The benchmark suite (docs/performance.md): server vs etcd vs the bare-gRPC floor, < 10 minutes.
bench: configure
	BUILD_DIR=$(BUILD_DIR) BUILD_TYPE=$(BUILD_TYPE) ./scripts/bench.sh $(BENCH_ARGS)
