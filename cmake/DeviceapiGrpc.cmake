# deviceapi::grpc: what our libraries link for gRPC (C++) and protobuf, instead of gRPC::grpc++ and
# protobuf::libprotobuf directly.
#
# By default it is the shared gRPC::grpc++ and protobuf::libprotobuf. A binary that sets the target
# property DEVICEAPI_STATIC_GRPC to ON gets, through every library it links, the static *unsecure*
# gRPC (no TLS: no libssl/libcrypto) and the static protobuf instead, so the process holds one copy
# of each and no libgrpc*.so / libprotobuf.so (a mix of a static and a shared gRPC or protobuf in one
# process is two descriptor pools, two gRPC cores: never). Abseil stays shared (one copy: Debian's
# static gRPC archives refer to it as our own code does), except in a binary that also calls
# deviceapi_static_absl() below, which gets the whole of Abseil static instead.
#
# Used for gpu-device-plugin (DEVICEAPI_STATIC_GRPC_PLUGIN): it runs on every GPU node and only
# speaks insecure gRPC over Unix sockets, so the pages of libgrpc.so, libprotobuf.so, libcrypto.so and
# libssl.so it never runs are not worth its resident set. Every other binary is unchanged.
set(_deviceapi_grpc_static_archives
  grpc++_unsecure grpc_unsecure upb address_sorting re2 cares gpr protobuf z)
set(_deviceapi_grpc_static_found ON)
set(_deviceapi_grpc_static_paths)
foreach(lib ${_deviceapi_grpc_static_archives})
  find_library(DEVICEAPI_STATIC_${lib}_ARCHIVE NAMES lib${lib}.a NO_CACHE)
  if(NOT DEVICEAPI_STATIC_${lib}_ARCHIVE)
    set(_deviceapi_grpc_static_found OFF)
  endif()
  list(APPEND _deviceapi_grpc_static_paths ${DEVICEAPI_STATIC_${lib}_ARCHIVE})
endforeach()
# Sanitized builds keep every binary the same (shared) shape.
if(DEVICEAPI_SANITIZE)
  set(_deviceapi_grpc_static_found OFF)
endif()
option(DEVICEAPI_STATIC_GRPC_PLUGIN
  "Link gpu-device-plugin against the static unsecure gRPC and static protobuf (smaller resident set)"
  ${_deviceapi_grpc_static_found})
if(DEVICEAPI_STATIC_GRPC_PLUGIN AND NOT _deviceapi_grpc_static_found)
  message(FATAL_ERROR "DEVICEAPI_STATIC_GRPC_PLUGIN: missing one of the static archives lib{${_deviceapi_grpc_static_archives}}.a")
endif()

# The static set: the archives in dependency order, then what they need from the system and the
# (shared) Abseil, as gRPC's own imported targets declare it.
add_library(deviceapi_grpc_static INTERFACE)
if(_deviceapi_grpc_static_found)
  set(_deviceapi_grpc_static_deps)
  foreach(t gRPC::grpc_unsecure gRPC::gpr)
    get_target_property(deps ${t} INTERFACE_LINK_LIBRARIES)
    foreach(d ${deps})
      if(NOT d MATCHES "^(gRPC::|ZLIB::|c-ares::|re2::|OpenSSL::)")
        list(APPEND _deviceapi_grpc_static_deps ${d})
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES _deviceapi_grpc_static_deps)
  target_link_libraries(deviceapi_grpc_static INTERFACE ${_deviceapi_grpc_static_paths} ${_deviceapi_grpc_static_deps})
endif()
get_target_property(_deviceapi_grpc_includes gRPC::grpc++ INTERFACE_INCLUDE_DIRECTORIES)
target_include_directories(deviceapi_grpc_static SYSTEM INTERFACE ${_deviceapi_grpc_includes} ${Protobuf_INCLUDE_DIRS})

add_library(deviceapi_grpc INTERFACE)
add_library(deviceapi::grpc ALIAS deviceapi_grpc)
# $<TARGET_PROPERTY:DEVICEAPI_STATIC_GRPC> is read on the target being linked (the binary), whatever
# library in between names deviceapi::grpc.
target_link_libraries(deviceapi_grpc INTERFACE
  $<IF:$<BOOL:$<TARGET_PROPERTY:DEVICEAPI_STATIC_GRPC>>,deviceapi_grpc_static,gRPC::grpc++>
  $<IF:$<BOOL:$<TARGET_PROPERTY:DEVICEAPI_STATIC_GRPC>>,,protobuf::libprotobuf>)

# deviceapi_static_absl(<binary>): for a binary that has DEVICEAPI_STATIC_GRPC, Abseil static too
# (Debian ships libabsl_*.a beside the .so), through a linker launcher (cmake/link-static-absl.sh)
# that swaps each shared Abseil on the link line for its archive: one copy of Abseil in the process,
# none of the ~40 libabsl_*.so to map and relocate at every start. No other shared library these
# binaries load depends on Abseil (civetweb, prometheus-cpp, spdlog, fmt), which is what makes a
# static Abseil safe; the POST_BUILD check fails the build if a libabsl*.so is still NEEDED. Also
# --gc-sections and -O1. (Packed relative relocations, -z pack-relative-relocs, saved another ~200 KiB
# of RSS but need glibc >= 2.36 where the binary runs: the check-mode binary is copied into NPD's
# image, whose glibc we do not choose.)
function(deviceapi_static_absl tgt)
  get_target_property(static ${tgt} DEVICEAPI_STATIC_GRPC)
  if(NOT static)
    return()
  endif()
  set_target_properties(${tgt} PROPERTIES
    CXX_LINKER_LAUNCHER ${PROJECT_SOURCE_DIR}/cmake/link-static-absl.sh)
  target_link_options(${tgt} PRIVATE -Wl,--gc-sections -Wl,-O1)
  add_custom_command(TARGET ${tgt} POST_BUILD VERBATIM
    COMMAND sh -c "if readelf -d \"$1\" | grep -q 'NEEDED.*libabsl'; then echo \"$1: a shared Abseil is still NEEDED\" >&2; exit 1; fi" sh $<TARGET_FILE:${tgt}>)
endfunction()
