# One shape for every target (see STYLE.md #12).
#
# deviceapi_cc_library(NAME foo SRCS a.cc HDRS a.h DEPS x y [PUBLIC_INCLUDES dir])
#   -> library target deviceapi_foo with alias deviceapi::foo
# deviceapi_cc_test(NAME foo_test SRCS a_test.cc DEPS x [LABELS l] [TIMEOUT s])
#   -> gtest executable registered with ctest, one ctest entry per test case
# deviceapi_cc_binary(NAME foo SRCS main.cc DEPS x)

set(DEVICEAPI_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
# Clang's static lock checking (make thread-safety): with DEVICEAPI_WERROR a lock annotation that
# the code breaks fails the build.
if(DEVICEAPI_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DEVICEAPI_THREAD_SAFETY needs clang (CMAKE_CXX_COMPILER=clang++-14)")
  endif()
  list(APPEND DEVICEAPI_WARNINGS -Wthread-safety)
endif()

function(deviceapi_cc_library)
  cmake_parse_arguments(A "" "NAME" "SRCS;HDRS;DEPS;PUBLIC_INCLUDES" ${ARGN})
  set(tgt deviceapi_${A_NAME})
  add_library(${tgt} STATIC ${A_SRCS} ${A_HDRS})
  add_library(deviceapi::${A_NAME} ALIAS ${tgt})
  target_include_directories(${tgt} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/api ${A_PUBLIC_INCLUDES})
  target_link_libraries(${tgt} PUBLIC ${A_DEPS})
  target_compile_options(${tgt} PRIVATE ${DEVICEAPI_WARNINGS} $<$<BOOL:${DEVICEAPI_WERROR}>:-Werror>)
endfunction()

function(deviceapi_cc_binary)
  cmake_parse_arguments(A "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  target_compile_options(${A_NAME} PRIVATE ${DEVICEAPI_WARNINGS} $<$<BOOL:${DEVICEAPI_WERROR}>:-Werror>)
  install(TARGETS ${A_NAME} RUNTIME DESTINATION bin)
endfunction()

function(deviceapi_cc_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${A_NAME} ${A_SRCS})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${A_NAME} PRIVATE ${DEVICEAPI_WARNINGS} $<$<BOOL:${DEVICEAPI_WERROR}>:-Werror>)
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  # One label per test: gtest_discover_tests splits list-valued properties.
  list(GET A_LABELS 0 label)
  gtest_discover_tests(${A_NAME}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS ${label}
               ENVIRONMENT "DEVICEAPI_BUILD_DIR=${PROJECT_BINARY_DIR}")
endfunction()
