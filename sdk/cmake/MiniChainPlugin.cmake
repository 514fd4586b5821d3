# minichain_add_plugin(<target> <sources>...)
#
# Makes a plugin: a MODULE library with no "lib" prefix (so the file is
# <target>.so), hidden visibility (the one exported symbol is the entry
# function marked MC_PLUGIN_EXPORT) and -Wl,-z,defs (a reference to any
# symbol no linked library provides, such as one of the host's, fails at
# link time instead of at load time).  C and C++ sources alike: the SDK
# headers give MC_PLUGIN_DEFINE C linkage in C++, and the version script
# minichain-plugin.map (beside this file) keeps the std:: templates a C++
# plugin instantiates from being exported beside the entry.
# A global property, not a variable: the function is called from
# directories that do not see the variables of the one that included this.
set_property(GLOBAL PROPERTY MC_PLUGIN_VERSION_SCRIPT
  "${CMAKE_CURRENT_LIST_DIR}/minichain-plugin.map")
function(minichain_add_plugin target)
  get_property(version_script GLOBAL PROPERTY MC_PLUGIN_VERSION_SCRIPT)
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(${target} PRIVATE MiniChain::sdk)
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${version_script}")
  set_property(TARGET ${target} APPEND PROPERTY
    LINK_DEPENDS "${version_script}")
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
