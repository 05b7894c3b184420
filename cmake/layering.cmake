# Layering of src/ (../shared/DESIGN.md, docs/architecture.md): floors, lowest
# first. A folder may include only folders on lower floors, and the nevers
# below hold on top of that. Checked at configure time and again by the
# `layering` test (cmake -P cmake/check_layering.cmake), which sees files
# edited since.
set(HALOREC_FLOORS core h5 data graph metrics partition comm model checkpoint serve train
    baseline export tune cli)

# Fails (FATAL_ERROR, naming file and line) when a file of src/<folder>
# (subfolders too) includes a header of any folder in the remaining
# arguments; `why` is said with it.
function(halorec_forbid_includes src folder why)
  list(JOIN ARGN "|" forbidden)
  if(forbidden STREQUAL "")
    return()
  endif()
  file(GLOB_RECURSE files "${src}/${folder}/*.h" "${src}/${folder}/*.cc" "${src}/${folder}/*.cu")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" lines)
    set(n 0)
    foreach(line IN LISTS lines)
      math(EXPR n "${n} + 1")
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"](${forbidden})/")
        # NOTICE is printed as it is (FATAL_ERROR wraps lines).
        message(NOTICE "${f}:${n}: ${folder}/ must not include ${CMAKE_MATCH_1}/ (${line}): ${why}")
        message(FATAL_ERROR "layering of src/ broken (cmake/layering.cmake)")
      endif()
    endforeach()
  endforeach()
endfunction()

function(halorec_check_layering src)
  set(above ${HALOREC_FLOORS})
  foreach(folder IN LISTS HALOREC_FLOORS)
    list(REMOVE_AT above 0)
    if(NOT IS_DIRECTORY "${src}/${folder}")
      message(FATAL_ERROR "${src}/${folder}: a floor of HALOREC_FLOORS without its folder")
    endif()
    halorec_forbid_includes("${src}" ${folder}
      "a folder includes only folders on lower floors (cmake/layering.cmake)" ${above})
  endforeach()
  # The nevers that floors alone do not say.
  halorec_forbid_includes("${src}" serve
    "serving starts no MPI and no trainer" comm)
  halorec_forbid_includes("${src}" model "models see one rank's graph, never a file"
    h5 data partition)
  # Every folder of src/ has a floor.
  file(GLOB entries LIST_DIRECTORIES true "${src}/*")
  foreach(e IN LISTS entries)
    get_filename_component(name "${e}" NAME)
    if(IS_DIRECTORY "${e}" AND NOT name IN_LIST HALOREC_FLOORS)
      message(FATAL_ERROR "${e}: a folder of src/ without a floor in HALOREC_FLOORS "
                          "(cmake/layering.cmake)")
    endif()
  endforeach()
endfunction()
