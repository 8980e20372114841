# Unit tests: tests/unit/<module>/test_<name>.c, one cmocka executable each, linked against the
# module's library and the shared scaffolding in tests/unit/common/ (loops, listeners, servers).
set(IG_TEST_LIBS ${IG_ALL_LIBS})
if(CMOCKA_FOUND)
  file(GLOB common_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/common/*.c)
  add_library(ig_test_common STATIC ${common_srcs})
  target_include_directories(ig_test_common PUBLIC ${CMAKE_SOURCE_DIR}/tests/unit/common)
  target_link_libraries(ig_test_common PUBLIC ${IG_TEST_LIBS} PkgConfig::CMOCKA)
  file(GLOB unit_dirs LIST_DIRECTORIES true CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/*)
  foreach(dir ${unit_dirs})
    if(IS_DIRECTORY ${dir})
      get_filename_component(mod ${dir} NAME)
      file(GLOB tsrcs CONFIGURE_DEPENDS ${dir}/test_*.c)
      foreach(t ${tsrcs})
        get_filename_component(tname ${t} NAME_WE)
        set(exe unit_${mod}_${tname})
        add_executable(${exe} ${t})
        target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR}/src/${mod})
        target_link_libraries(${exe} PRIVATE ig_test_common ${IG_TEST_LIBS} PkgConfig::CMOCKA)
        add_test(NAME unit.${mod}.${tname} COMMAND ${exe})
        set_tests_properties(unit.${mod}.${tname} PROPERTIES TIMEOUT 120)
      endforeach()
    endif()
  endforeach()
endif()

# Fuzz targets: tests/fuzz/fuzz_<target>.c define LLVMFuzzerTestOneInput. In a normal build each
# is linked with a replay driver and runs its committed corpus once as a test; with IG_FUZZ the
# real libFuzzer binary is built for `make fuzz`.
file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(f ${fuzz_srcs})
  get_filename_component(fname ${f} NAME_WE)
  string(REPLACE "fuzz_" "" target ${fname})
  if(IG_FUZZ)
    add_executable(${fname} ${f})
    target_link_libraries(${fname} PRIVATE ${IG_TEST_LIBS})
    target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(replay_${target} ${f} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
    target_link_libraries(replay_${target} PRIVATE ${IG_TEST_LIBS})
    add_test(NAME fuzz.replay.${target}
             COMMAND replay_${target} ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${target})
  endif()
endforeach()

# Integration tests: tests/integration/NN-<name>.sh against the real binary on 127.0.0.1.
file(GLOB itests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/[0-9][0-9]-*.sh)
foreach(t ${itests})
  get_filename_component(tname ${t} NAME_WE)
  add_test(NAME integration.${tname} COMMAND bash ${t})
  set_tests_properties(integration.${tname} PROPERTIES TIMEOUT 300
    ENVIRONMENT "IG_BIN=$<TARGET_FILE:infergate>;IG_ROOT=${CMAKE_SOURCE_DIR}"
    DEPENDS infergate)
endforeach()

# Interop tests: tests/js/*.test.mjs with the official openai SDK and @grpc/grpc-js (node).
find_program(NODE node)
file(GLOB jstests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/js/*.test.mjs)
foreach(t ${jstests})
  get_filename_component(tname ${t} NAME_WE)
  string(REPLACE ".test" "" tname ${tname})
  add_test(NAME interop.${tname} COMMAND ${NODE} --test ${t})
  set_tests_properties(interop.${tname} PROPERTIES TIMEOUT 300
    ENVIRONMENT "IG_BIN=$<TARGET_FILE:infergate>;IG_ROOT=${CMAKE_SOURCE_DIR}")
endforeach()

# ---- gRPC interop helpers (tests/grpc/) ---------------------------------------------------------
# Test-only programs for tests/js/grpc-health.test.mjs: infergate's gRPC health server, and a
# client that makes one call against the grpc-js server. Never installed; the interop test finds
# them through the environment below.
foreach(prog grpc_health_server grpc_test_client)
  add_executable(${prog} ${CMAKE_SOURCE_DIR}/tests/grpc/${prog}.c)
  target_link_libraries(${prog} PRIVATE ig_grpc)
endforeach()
if(TEST interop.grpc-health)
  set_property(TEST interop.grpc-health APPEND PROPERTY ENVIRONMENT
    "IG_GRPC_HEALTH_SERVER=$<TARGET_FILE:grpc_health_server>;IG_GRPC_TEST_CLIENT=$<TARGET_FILE:grpc_test_client>")
endif()
