# Runs BINARY and passes only if it fails and its output contains every
# string in EXPECT (a ;-list): a canary for a detector that must report.
# ARGS (a ;-list, optional): the binary's arguments. STATUS (optional): the
# exit status it must fail with (an abort is a crash, not a failure).
execute_process(COMMAND ${BINARY} ${ARGS} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected ${BINARY} to fail, it passed:\n${out}")
endif()
if(DEFINED STATUS AND NOT rc STREQUAL STATUS)
  message(FATAL_ERROR "expected ${BINARY} to exit ${STATUS}, got '${rc}':\n${out}${err}")
endif()
foreach(needle IN LISTS EXPECT)
  string(FIND "${out}${err}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "output of ${BINARY} lacks '${needle}':\n${out}${err}")
  endif()
endforeach()
