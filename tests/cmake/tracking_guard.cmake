# A program built with Asio handler tracking's definitions against a faultscope
# built without them must fail to link, for want of the hooks, rather than run
# with two layouts of use_awaitable_t (README, handler tracking).
# CXX, SOURCE (the checkout), LIBRARY (faultscope_framework's file), FMT (fmt's
# library), WORK (a scratch directory).
file(MAKE_DIRECTORY "${WORK}")
execute_process(
  COMMAND "${CXX}" -std=c++20
          "-DBOOST_ASIO_CUSTOM_HANDLER_TRACKING=<faultscope/detail/asio_tracking.hpp>"
          -DBOOST_ASIO_ENABLE_HANDLER_TRACKING "-I${SOURCE}/framework/include"
          "${SOURCE}/tests/cmake/tracking_guard.cpp" "${LIBRARY}" "${FMT}" -pthread
          -o "${WORK}/guard"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${WORK}")
if(rc EQUAL 0)
  message(FATAL_ERROR "a program with the tracking definitions linked against a faultscope "
                      "built without them")
endif()
if(NOT err MATCHES "undefined reference to `faultscope::detail::asio_tracking::")
  message(FATAL_ERROR "the program failed to build, but not for want of the hooks:\n${out}${err}")
endif()
