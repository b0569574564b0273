# llama_store.pc, installed to <libdir>/pkgconfig: `pkg-config --cflags --libs llama_store`.
# Configured twice: here with everything but the prefix, then at install time with the
# prefix the install really uses (`cmake --install --prefix P` overrides the configured
# CMAKE_INSTALL_PREFIX). Included from the top-level CMakeLists.txt after llama_store and
# its options are set up.

# A static library's private dependencies go on every link line (see the template).
if(LLAMA_BUILD_SHARED)
  set(llama_pc_requires "")
else()
  list(JOIN llama_pc_private_modules " " llama_pc_requires)
endif()
set(llama_pc_internal_cflags "")
if(LLAMA_INSTALL_INTERNAL_HEADERS)
  set(llama_pc_internal_cflags " -I\${includedir}/llama/internal")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  string(TOLOWER ${dir} name)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(llama_pc_${name} "${CMAKE_INSTALL_${dir}}")
  else()
    set(llama_pc_${name} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(LLAMA_PC_PREFIX "@LLAMA_PC_PREFIX@")  # kept for the install-time pass
configure_file(${PROJECT_SOURCE_DIR}/cmake/llama_store.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/llama_store.pc.in
               @ONLY)
install(CODE "
  set(LLAMA_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/pkgconfig/llama_store.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig/llama_store.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/llama_store.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
