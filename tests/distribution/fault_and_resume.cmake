# A process killed mid-epoch ends the whole job, non-zero, within 30 s, with an error naming it;
# rerunning with BackupAndRestore, or from the last `.keras` checkpoint alone (md::load_model,
# then fit from its epoch), resumes and ends with the uninterrupted run's weights, bit for bit
# (the model has Dropout: the masks must be the full run's too).
# Run by CTest: cmake -DMPIEXEC=... -DPROGRAM=... -DWORK_DIR=... -P fault_and_resume.cmake
include(${CMAKE_CURRENT_LIST_DIR}/failing_job.cmake)
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(mpirun ${MPIEXEC} --oversubscribe --allow-run-as-root -np 2)

execute_process(COMMAND ${mpirun} ${PROGRAM} full "${WORK_DIR}/full.bin" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the uninterrupted run failed (${rc}):\n${out}\n${err}")
endif()

failing_job("the job with a killed process" output ${mpirun} ${PROGRAM} kill "${WORK_DIR}")
if(NOT output MATCHES "process rank 1 .*exited on signal 9")
  message(FATAL_ERROR "the error does not name the lost process (rank 1):\n${output}")
endif()
if(NOT EXISTS "${WORK_DIR}/backup/training_metadata.json")
  message(FATAL_ERROR "no backup was written before the kill")
endif()
file(READ "${WORK_DIR}/backup/training_metadata.json" metadata)
if(NOT metadata MATCHES "\"epoch\":2")
  message(FATAL_ERROR "the backup should hold epoch 2 (two epochs done); it holds ${metadata}")
endif()
if(NOT EXISTS "${WORK_DIR}/checkpoints/epoch-2.keras" OR EXISTS "${WORK_DIR}/checkpoints/epoch-3.keras")
  message(FATAL_ERROR "the last .keras checkpoint before the kill should be epoch-2.keras")
endif()

file(SHA256 "${WORK_DIR}/full.bin" full)
foreach(how IN ITEMS backup keras)
  execute_process(COMMAND ${mpirun} ${PROGRAM} resume-${how} "${WORK_DIR}" "${WORK_DIR}/resumed-${how}.bin"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the run resumed from the ${how} failed (${rc}):\n${out}\n${err}")
  endif()
  if(NOT out MATCHES "epochs run: 2")
    message(FATAL_ERROR "the run resumed from the ${how} should run the last 2 epochs:\n${out}")
  endif()
  file(SHA256 "${WORK_DIR}/resumed-${how}.bin" resumed)
  if(NOT full STREQUAL resumed)
    message(FATAL_ERROR "the run resumed from the ${how}: final weights differ from the uninterrupted run's")
  endif()
  message(STATUS "resumed from the ${how} at epoch 2: ${out}final weights equal bit for bit (sha256 ${full})")
endforeach()
