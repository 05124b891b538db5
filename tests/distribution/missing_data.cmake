# A process that cannot open its data ends the whole job, non-zero, within 30 s, with its error
# (tools/open_data.cpp): whether the error leaves main() or main() catches it and returns 1, the
# other process, waiting in fit() for it, must not hang.
# Run by CTest: cmake -DMPIEXEC=... -DPROGRAM=... -DWORK_DIR=... -P missing_data.cmake
include(${CMAKE_CURRENT_LIST_DIR}/failing_job.cmake)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
# Process 0's copy of the data (32 samples); process 1's, data-1.csv, is missing.
set(rows "")
foreach(i RANGE 31)
  string(APPEND rows "${i} 1 0 -1 0.5\n")
endforeach()
file(WRITE "${WORK_DIR}/data-0.csv" "${rows}")
set(mpirun ${MPIEXEC} --oversubscribe --allow-run-as-root -np 2)

foreach(mode IN ITEMS caught uncaught)
  failing_job("${mode}" output ${mpirun} ${PROGRAM} "${WORK_DIR}" ${mode})
  if(NOT output MATCHES "cannot open the training data '[^']*/data-1.csv': No such file or directory")
    message(FATAL_ERROR "${mode}: process 1's error is not in the output:\n${output}")
  endif()
endforeach()
