# minichain_add_plugin(<target> <sources>...)
#
# Makes a plugin: a MODULE library with no "lib" prefix (so the file is
# <target>.so), hidden visibility (the one exported symbol is the entry
# function marked MC_PLUGIN_EXPORT) and -Wl,-z,defs (a reference to any
# symbol no linked library provides, such as one of the host's, fails at
# link time instead of at load time).  C and C++ sources alike: the SDK
# headers give MC_PLUGIN_DEFINE C linkage in C++.
function(minichain_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE MiniChain::sdk)
  # ASan runtimes come from the host executable, so -z defs would reject
  # their symbols in a sanitizer build.
  if(NOT MC_SANITIZE)
    target_link_options(${target} PRIVATE "LINKER:-z,defs")
  endif()
  if(DEFINED MC_BUILD_PLUGIN_DIR)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY "${MC_BUILD_PLUGIN_DIR}")
  endif()
endfunction()
