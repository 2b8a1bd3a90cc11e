# sdxl_add_library(NAME SOURCES ... DEPS ...): a module library `sdxl_<NAME>` rooted at src/.
function(sdxl_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(sdxl_${name} STATIC ${A_SOURCES})
  target_include_directories(sdxl_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(sdxl_${name} PUBLIC ${A_DEPS})
  sdxl_set_warnings(sdxl_${name})
endfunction()

# sdxl_add_test(NAME SOURCES ... DEPS ...): a GoogleTest binary registered with CTest.
function(sdxl_add_test name)
  if(NOT SDXL_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  sdxl_set_warnings(${name})
  include(GoogleTest)
  gtest_discover_tests(${name} PROPERTIES LABELS "unit;${A_LABELS}"
                       ENVIRONMENT "SDXL_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
                       DISCOVERY_TIMEOUT 60)
endfunction()

function(sdxl_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(SDXL_SANITIZE)
    # GCC's -Wmaybe-uninitialized misfires on instrumented code (std::function inside std::regex,
    # from cpp-httplib's router); the uninstrumented -Werror build keeps that warning.
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized)
  endif()
  if(SDXL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
