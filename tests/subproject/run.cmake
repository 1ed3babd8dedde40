# ctest driver: configure, build and run tests/subproject (neuroperf built inside another
# project's build). Variables: SOURCE_DIR, WORK_DIR, CXX_FLAGS, LINKER_FLAGS of the build under test.
file(REMOVE_RECURSE "${WORK_DIR}")
# Debug: the point is that it builds and links, not its speed (the builtin GEMM is -O3 anyway).
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/subproject" -B "${WORK_DIR}" -G Ninja
                        -DCMAKE_BUILD_TYPE=Debug "-DNEUROPERF_SOURCE_DIR=${SOURCE_DIR}"
                        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
                        "-DCMAKE_SHARED_LINKER_FLAGS=${LINKER_FLAGS}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the subproject consumer failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the subproject consumer failed: ${rc}")
endif()
execute_process(COMMAND "${WORK_DIR}/consumer" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the subproject consumer failed: ${rc}")
endif()
