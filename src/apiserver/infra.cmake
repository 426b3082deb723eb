# Server infrastructure: flags, metrics, the gRPC metrics interceptor and the HTTP probe server.
# Included by src/apiserver/CMakeLists.txt; defines deviceapi::apiserver_infra.
set(_infra_dir ${CMAKE_CURRENT_LIST_DIR})
deviceapi_cc_library(
  NAME apiserver_infra
  SRCS
    ${_infra_dir}/options.cc
    ${_infra_dir}/metrics.cc
    ${_infra_dir}/process_metrics.cc
    ${_infra_dir}/grpc_metrics.cc
    ${_infra_dir}/http_server.cc
  HDRS
    ${_infra_dir}/options.h
    ${_infra_dir}/metrics.h
    ${_infra_dir}/process_metrics.h
    ${_infra_dir}/grpc_metrics.h
    ${_infra_dir}/http_server.h
  DEPS
    deviceapi::common
    deviceapi::storage  # ParseDatastoreEndpoint: the --datastore-endpoint check
    CLI11::CLI11
    prometheus-cpp::core
    civetweb::civetweb
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
