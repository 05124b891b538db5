# Warnings shared by the library, tests, examples and benchmarks.
function(minidl_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(MINIDL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
