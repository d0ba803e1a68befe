# Small helpers so that each folder's CMakeLists.txt stays a few lines long.

# loupe_library(NAME SOURCES ... DEPS ...): a static library of our own code.
function(loupe_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# loupe_unit_test(NAME SOURCES ... DEPS ...): a GoogleTest binary that needs no privileges.
function(loupe_unit_test name)
  if(NOT LOUPE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} TEST_PREFIX "${name}." PROPERTIES LABELS unit DISCOVERY_TIMEOUT 30)
endfunction()

# loupe_protocol(NAME SOURCES ... TESTS ... FUZZ file.cc): one protocol plugin. Registers the
# library in the global property the registry links against, a unit test, and a fuzz target.
function(loupe_protocol name)
  cmake_parse_arguments(ARG "" "FUZZ" "SOURCES;TESTS;DEPS" ${ARGN})
  loupe_library(loupe_proto_${name} SOURCES ${ARG_SOURCES} DEPS loupe_core ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY LOUPE_PROTOCOL_LIBS loupe_proto_${name})
  if(ARG_TESTS)
    loupe_unit_test(proto_${name}_test SOURCES ${ARG_TESTS} DEPS loupe_proto_${name})
  endif()
  if(ARG_FUZZ)
    loupe_fuzzer(fuzz_${name} SOURCES ${ARG_FUZZ} DEPS loupe_proto_${name})
  endif()
endfunction()

# loupe_fuzzer(NAME SOURCES ... DEPS ...): a libFuzzer target. With LOUPE_FUZZ=ON (clang) it is a
# real coverage-guided fuzzer (`make fuzz`); otherwise it links a driver that replays the
# fixtures and a bounded number of random and mutated inputs, run by ctest as a smoke test.
function(loupe_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  if(LOUPE_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    set_property(GLOBAL APPEND PROPERTY LOUPE_FUZZERS ${name})
  else()
    target_link_libraries(${name} PRIVATE loupe_fuzz_driver)
    if(LOUPE_BUILD_TESTS)
      add_test(NAME ${name}_smoke COMMAND ${name} --runs=20000 ${CMAKE_SOURCE_DIR}/tests/fixtures)
      set_tests_properties(${name}_smoke PROPERTIES LABELS "unit;fuzz")
    endif()
  endif()
endfunction()
