# cmake -DSRC=<src folder> -P cmake/check_layering.cmake: the layering check
# of cmake/layering.cmake over a tree as it is now.
cmake_minimum_required(VERSION 3.16)
if(NOT SRC)
  message(FATAL_ERROR "give -DSRC=<the src folder to check>")
endif()
include("${CMAKE_CURRENT_LIST_DIR}/layering.cmake")
halorec_check_layering("${SRC}")
message(STATUS "layering of ${SRC}: every include goes to a lower floor")
