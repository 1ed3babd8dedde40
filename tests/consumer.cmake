# ctest driver for the consumer projects: configure, build and run one against neuroperf.
#   MODE=package:    install the build tree BUILD_DIR into a scratch prefix, then tests/package
#                    finds it with find_package(neuroperf CONFIG);
#   MODE=subproject: tests/subproject builds neuroperf from SOURCE_DIR inside its own build
#                    (FetchContent, i.e. add_subdirectory), in Debug: the point is that it builds,
#                    links and runs, not its speed.
# Also: WORK_DIR (scratch), CXX_FLAGS / LINKER_FLAGS of the build under test (a sanitizer build's
# consumer needs the same runtime).
file(REMOVE_RECURSE "${WORK_DIR}")
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "${MODE} consumer: ${what} failed: ${rc}")
  endif()
endfunction()

set(flags "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
          "-DCMAKE_SHARED_LINKER_FLAGS=${LINKER_FLAGS}")
if(MODE STREQUAL "package")
  step("install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND flags "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
elseif(MODE STREQUAL "subproject")
  list(APPEND flags -DCMAKE_BUILD_TYPE=Debug "-DNEUROPERF_SOURCE_DIR=${SOURCE_DIR}")
else()
  message(FATAL_ERROR "consumer.cmake: MODE must be package or subproject, got '${MODE}'")
endif()
step("configuring" ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/${MODE}" -B "${WORK_DIR}/build" -G Ninja ${flags})
step("building" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step("running" "${WORK_DIR}/build/consumer")
