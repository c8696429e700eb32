# Builds tests/cmake/consumer against this build of faultscope, as a user's
# project would: FROM=package installs the build into a scratch prefix and
# finds it with find_package, then builds and runs the consumer; FROM=source
# configures the consumer with add_subdirectory of the checkout (configure
# only: it checks the targets and options; the package run compiles and links).
# Also: SOURCE, BUILD (this build directory), WORK (a scratch directory),
# GENERATOR, CXX, CXX_FLAGS, LINKER_FLAGS (the build's, so sanitizer builds link),
# ASIO_TRACKING (the build's FAULTSCOPE_ASIO_TRACKING, which the consumer expects).
file(REMOVE_RECURSE "${WORK}")

set(args -DFAULTSCOPE_FROM=${FROM} "-DCMAKE_CXX_COMPILER=${CXX}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
         "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}" "-DFAULTSCOPE_ASIO_TRACKING=${ASIO_TRACKING}")
if(FROM STREQUAL "package")
  execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD}" --prefix "${WORK}/prefix"
                  OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install failed:\n${err}")
  endif()
  list(APPEND args "-DCMAKE_PREFIX_PATH=${WORK}/prefix")
else()
  list(APPEND args "-DFAULTSCOPE_SOURCE=${SOURCE}")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE}/tests/cmake/consumer" -B "${WORK}/build"
                        -G "${GENERATOR}" ${args}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer (${FROM}) failed:\n${out}${err}")
endif()
if(FROM STREQUAL "package")
  execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK}/build"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "building the consumer failed:\n${out}${err}")
  endif()
  execute_process(COMMAND "${WORK}/build/consumer" OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the consumer failed (${rc}):\n${out}${err}")
  endif()
endif()
file(REMOVE_RECURSE "${WORK}")
