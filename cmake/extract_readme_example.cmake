# Extracts the C++ code block that follows the line `<!-- example: embed -->`
# in README.md into a source file, so the README example is compiled and run
# by the test suite and cannot rot.
#
# As a script (what tests/readme/CMakeLists.txt does, from an
# add_custom_command that DEPENDS on README.md):
#   cmake -DREADME=README.md -DOUTPUT=build/readme_example.cc -P cmake/extract_readme_example.cmake
#
# Or at configure time:
#   include(cmake/extract_readme_example.cmake)
#   cairn_extract_readme_example(README.md ${CMAKE_BINARY_DIR}/readme_example.cc)
#
# The block is the first fenced block (``` or ```cpp / ```c++) after the
# marker; only blank lines may come between the marker and the opening fence.
# The output starts with a #line directive, so compiler errors point into
# README.md.

set(CAIRN_README_EXAMPLE_MARKER "<!-- example: embed -->")

function(cairn_extract_readme_example readme output)
  set(marker "${CAIRN_README_EXAMPLE_MARKER}")
  if(NOT EXISTS "${readme}")
    message(FATAL_ERROR "extract_readme_example: ${readme} does not exist")
  endif()
  file(READ "${readme}" text)

  string(FIND "${text}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "extract_readme_example: ${readme} has no line `${marker}`; "
                        "it must come right before the C++ code block of the embedding example")
  endif()

  # Skip the rest of the marker line.
  string(SUBSTRING "${text}" ${at} -1 rest)
  string(FIND "${rest}" "\n" nl)
  if(nl EQUAL -1)
    message(FATAL_ERROR "extract_readme_example: nothing follows `${marker}` in ${readme}")
  endif()
  math(EXPR at "${at} + ${nl} + 1")
  string(SUBSTRING "${text}" ${at} -1 rest)

  # The opening fence: only blank lines before it.
  string(FIND "${rest}" "```" fence)
  if(fence EQUAL -1)
    message(FATAL_ERROR "extract_readme_example: no ``` code block after `${marker}` in ${readme}")
  endif()
  string(SUBSTRING "${rest}" 0 ${fence} between)
  string(STRIP "${between}" between)
  if(NOT between STREQUAL "")
    message(FATAL_ERROR "extract_readme_example: ${readme} has text between `${marker}` and its code block; "
                        "the ``` block must follow the marker directly")
  endif()
  math(EXPR at "${at} + ${fence}")
  string(SUBSTRING "${text}" ${at} -1 rest)
  string(FIND "${rest}" "\n" nl)
  if(nl EQUAL -1)
    message(FATAL_ERROR "extract_readme_example: the code block after `${marker}` in ${readme} is not closed")
  endif()
  string(SUBSTRING "${rest}" 0 ${nl} fence_line)
  if(NOT fence_line MATCHES "^```[ \t]*(cpp|c\\+\\+|cc|cxx|C\\+\\+)?[ \t]*$")
    message(FATAL_ERROR "extract_readme_example: the block after `${marker}` in ${readme} opens with "
                        "`${fence_line}`, expected ``` or ```cpp")
  endif()
  math(EXPR at "${at} + ${nl} + 1")
  string(SUBSTRING "${text}" ${at} -1 rest)

  # The closing fence starts a line.
  if(rest MATCHES "^```")
    set(close 0)
  else()
    string(FIND "${rest}" "\n```" close)
    if(close EQUAL -1)
      message(FATAL_ERROR "extract_readme_example: the code block after `${marker}` in ${readme} is not closed")
    endif()
    math(EXPR close "${close} + 1")
  endif()
  string(SUBSTRING "${rest}" 0 ${close} code)
  string(STRIP "${code}" stripped)
  if(stripped STREQUAL "")
    message(FATAL_ERROR "extract_readme_example: the code block after `${marker}` in ${readme} is empty")
  endif()

  # README line of the block's first line, for #line.
  string(SUBSTRING "${text}" 0 ${at} before)
  string(REGEX MATCHALL "\n" newlines "${before}")
  list(LENGTH newlines line)
  math(EXPR line "${line} + 1")

  get_filename_component(readme_abs "${readme}" ABSOLUTE)
  set(content "// Generated from ${readme_abs} by cmake/extract_readme_example.cmake. Edit README.md, not this file.\n")
  string(APPEND content "#line ${line} \"${readme_abs}\"\n" "${code}")
  file(WRITE "${output}" "${content}")
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT DEFINED README OR NOT DEFINED OUTPUT)
    message(FATAL_ERROR "usage: cmake -DREADME=<README.md> -DOUTPUT=<file.cc> -P ${CMAKE_CURRENT_LIST_FILE}")
  endif()
  cairn_extract_readme_example("${README}" "${OUTPUT}")
endif()
