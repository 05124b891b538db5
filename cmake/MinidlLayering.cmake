# The layers of the house, enforced by the build: each source folder compiles as its own object
# library against an include tree that holds only that folder and the folders below it, so an
# upward #include fails to compile ("minidl/models/model.h: No such file or directory" from
# layers/). The trees are links under build/layering/<name>/minidl/, made at configure time:
#
#   backend   core/backend                          oneDNN, OpenBLAS and OpenMP (-fopenmp) here only
#   core      core (with core/backend)              tensors, compute, operations
#   autograd  core's headers, backend/kinds.h       the tape, variables, differentiable ops
#   layers    ... + autograd + layers
#   optim     ... + autograd + optim
#   models    ... + autograd + layers + optim + models
#   datasets  core's headers, backend/kinds.h + datasets
#
# Above core, the backend shows only core/backend/kinds.h (the names of its operations): the
# folders above call the backend through md::compute, never directly. OpenMP is compiled into
# the backend alone, so a `#pragma omp` anywhere else is an unknown pragma (an error with
# -Werror): parallel loops live in core/backend.

# minidl_layering_tree(<name> <entry>...): links each entry (a folder, a file, or a glob of files,
# relative to the source root) into build/layering/<name>/minidl/ and returns the tree's root
# in MINIDL_LAYERING_TREE.
function(minidl_layering_tree name)
  set(tree "${PROJECT_BINARY_DIR}/layering/${name}")
  file(REMOVE_RECURSE "${tree}")
  foreach(entry IN LISTS ARGN)
    if(entry MATCHES "[*]")
      file(GLOB matches CONFIGURE_DEPENDS RELATIVE "${PROJECT_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}/${entry}")
    else()
      set(matches "${entry}")
    endif()
    foreach(path IN LISTS matches)
      set(link "${tree}/minidl/${path}")
      get_filename_component(parent "${link}" DIRECTORY)
      file(MAKE_DIRECTORY "${parent}")
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/${path}" "${link}" SYMBOLIC)
    endforeach()
  endforeach()
  set(MINIDL_LAYERING_TREE "${tree}" PARENT_SCOPE)
endfunction()

# minidl_add_layer(<name> FOLDER <folder> SEES <entries> [LINKS <targets>]): the object library
# minidl_<name> of <folder>'s .cpp files, compiled against the tree of SEES plus <folder>.
function(minidl_add_layer name)
  cmake_parse_arguments(arg "" "FOLDER" "SEES;LINKS" ${ARGN})
  minidl_layering_tree(${name} ${arg_SEES} ${arg_FOLDER})
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${arg_FOLDER}/*.cpp")
  set(target minidl_${name})
  add_library(${target} OBJECT ${sources})
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_include_directories(${target} PRIVATE "${MINIDL_LAYERING_TREE}")
  target_link_libraries(${target} PRIVATE fmt::fmt nlohmann_json::nlohmann_json ${arg_LINKS})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ${BUILD_SHARED_LIBS})
  minidl_set_warnings(${target})
  if(MINIDL_SANITIZER_FLAGS)
    target_compile_options(${target} PRIVATE ${MINIDL_SANITIZER_FLAGS})
  endif()
  if(MINIDL_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
  set(MINIDL_LAYER_TARGETS ${MINIDL_LAYER_TARGETS} ${target} PARENT_SCOPE)
endfunction()
