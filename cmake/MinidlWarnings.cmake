# Warnings shared by the library, tests, examples and benchmarks.
function(minidl_set_warnings target)
  # -Woverloaded-virtual: a user's layer overriding call(args, ctx) must not hide anything
  # (issue 19: user code compiled with common warning flags stays clean).
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Woverloaded-virtual)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports -Wrestrict, -Wstringop-overflow and -Warray-bounds on ordinary std::string
    # concatenation at -O3 (GCC bugs 105329, 106199, 105651; the last two show up once headers
    # are precompiled). The asan preset checks bounds at run time instead.
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-stringop-overflow -Wno-array-bounds)
  endif()
  if(MINIDL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
