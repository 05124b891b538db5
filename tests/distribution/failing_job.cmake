# failing_job(<what> <output_var> COMMAND...): runs a job that must fail, and fail fast: a
# non-zero exit within 30 s (a job that hangs is stopped at 60 s and fails the test). Sets
# <output_var> to its stdout and stderr. Included by fault_and_resume.cmake and missing_data.cmake.
function(failing_job what output_var)
  string(TIMESTAMP start "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
  string(TIMESTAMP end "%s")
  math(EXPR seconds "${end} - ${start}")
  message(STATUS "${what}: exit ${rc} after ${seconds} s\n${out}${err}")
  if(rc EQUAL 0 OR rc MATCHES "timeout")
    message(FATAL_ERROR "${what}: the job did not fail (exit '${rc}')")
  endif()
  if(seconds GREATER 30)
    message(FATAL_ERROR "${what}: the job took ${seconds} s to end (limit 30 s)")
  endif()
  set(${output_var} "${out}${err}" PARENT_SCOPE)
endfunction()
