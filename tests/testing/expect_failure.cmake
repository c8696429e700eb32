# Runs BINARY and passes only if it fails and its output contains every
# string in EXPECT (a ;-list): a canary for a detector that must report.
# ONCE (a ;-list, optional): strings the output must contain exactly once.
# ABSENT (a ;-list, optional): strings the output must not contain.
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
foreach(needle IN LISTS ONCE)
  string(FIND "${out}${err}" "${needle}" first)
  string(FIND "${out}${err}" "${needle}" last REVERSE)
  if(first EQUAL -1 OR NOT first EQUAL last)
    message(FATAL_ERROR "output of ${BINARY} should contain '${needle}' once:\n${out}${err}")
  endif()
endforeach()
foreach(needle IN LISTS ABSENT)
  string(FIND "${out}${err}" "${needle}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "output of ${BINARY} should not contain '${needle}':\n${out}${err}")
  endif()
endforeach()
