# Server infrastructure: flags, metrics and the gRPC metrics interceptor (the HTTP probe server and
# the process metrics are deviceapi::observability's, shared with the other binaries).
# Included by src/apiserver/CMakeLists.txt; defines deviceapi::apiserver_infra.
set(_infra_dir ${CMAKE_CURRENT_LIST_DIR})
deviceapi_cc_library(
  NAME apiserver_infra
  SRCS
    ${_infra_dir}/options.cc
    ${_infra_dir}/metrics.cc
    ${_infra_dir}/grpc_metrics.cc
  HDRS
    ${_infra_dir}/options.h
    ${_infra_dir}/metrics.h
    ${_infra_dir}/grpc_metrics.h
  DEPS
    deviceapi::common
    deviceapi::observability
    deviceapi::storage  # ParseDatastoreEndpoint: the --datastore-endpoint check
    CLI11::CLI11
    prometheus-cpp::core
    gRPC::grpc++
    absl::status
    absl::statusor
    absl::strings
    fmt::fmt
    absl::time
    absl::synchronization
    absl::flat_hash_map
)
unset(_infra_dir)
