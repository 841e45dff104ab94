# guardrail_library(NAME SOURCES file... [PUBLIC target...] [PRIVATE target...])
#
# One subsystem's static library, guardrail_NAME, built from the sources its folder lists. Its
# public headers live in include/guardrail/NAME/. PUBLIC lists what its headers expose, PRIVATE
# what only its sources use, so that a library's link line shows its layer.
function(guardrail_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  add_library(guardrail_${name} STATIC ${ARG_SOURCES})
  target_compile_options(guardrail_${name} PRIVATE -Wall -Wextra -Wno-missing-field-initializers)
  target_link_libraries(guardrail_${name} PUBLIC guardrail_headers ${ARG_PUBLIC}
                                          PRIVATE ${ARG_PRIVATE})
endfunction()
