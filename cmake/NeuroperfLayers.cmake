# The library's layers as build targets (docs/dev/layers.md).
#
# Each layer is a static library built from src/<layer>/*.cpp that links only the layers below
# it. Its private headers are included as "<layer>/name.hpp": the layer puts on the include path
# a directory of the build tree holding one link, <layer> -> src/<layer>, and include
# directories travel along target_link_libraries to the layers above only. A layer that includes
# a private header of a layer above it therefore fails to compile ("No such file or directory").
# cmake/check_layers.cmake checks the rest at build time: public headers by owning layer,
# no "../" escapes, apps/ and python/ on public headers only.
#
# The shared library libneuroperf.so is the objects of every layer (src/CMakeLists.txt); tests and
# micro-benchmarks link the layers themselves (the worker executable links libneuroperf.so).

# Layers, bottom first. A layer may use the ones before it in this list.
set(NEUROPERF_LAYERS core blas kernels runtime jit parallel snn api)

# Public headers (include/neuroperf/) by the lowest layer allowed to include them: the layer
# that implements what they declare. Every public header is listed exactly once.
set(NEUROPERF_HEADERS_core array error export fields files cpu isa version timer hash_random sparse stats
    subprocess progress)
set(NEUROPERF_HEADERS_blas blas)
set(NEUROPERF_HEADERS_kernels convolution reservoir kernel_specs spectral dispatch)
set(NEUROPERF_HEADERS_runtime context affinity)
set(NEUROPERF_HEADERS_jit jit_compiler)
set(NEUROPERF_HEADERS_parallel schedule parallel_report)
set(NEUROPERF_HEADERS_snn network)
set(NEUROPERF_HEADERS_api mkl_optimizer parallel_processor)

# neuroperf_add_layer(<layer> [BELOW <layer>...] [PUBLIC_LIBS ...] [PRIVATE_LIBS ...]
#                     [EXTRA_OBJECTS <object library>...])
function(neuroperf_add_layer layer)
  cmake_parse_arguments(PARSE_ARGV 1 L "" "" "BELOW;PUBLIC_LIBS;PRIVATE_LIBS;EXTRA_OBJECTS")
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${layer}/*.cpp)
  set(target neuroperf_${layer})
  add_library(${target} STATIC ${sources})
  foreach(obj IN LISTS L_EXTRA_OBJECTS)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${obj}>)
  endforeach()
  set(root ${PROJECT_BINARY_DIR}/layers/${layer})
  file(MAKE_DIRECTORY ${root})
  if(NOT EXISTS ${root}/${layer})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${layer} ${root}/${layer} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>
                                              $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${NEUROPERF_WARNINGS})
  # Hidden by default: libneuroperf.so exports only what carries NEUROPERF_API.
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden
                                             VISIBILITY_INLINES_HIDDEN ON)
  foreach(below IN LISTS L_BELOW)
    target_link_libraries(${target} PUBLIC neuroperf_${below})
  endforeach()
  target_link_libraries(${target} PUBLIC ${L_PUBLIC_LIBS} PRIVATE ${L_PRIVATE_LIBS})
  string(REPLACE ";" "," below "${L_BELOW}")
  set_property(GLOBAL APPEND PROPERTY NEUROPERF_LAYER_GRAPH "${layer}:${below}")
endfunction()

# After every layer: the build-time check (cmake/check_layers.cmake) that every layer, public
# header, app and binding includes only what it may. Each layer waits for it, so a violation
# stops the build before anything compiles.
function(neuroperf_add_layer_check)
  get_property(graph GLOBAL PROPERTY NEUROPERF_LAYER_GRAPH)
  set(owners "")
  foreach(layer IN LISTS NEUROPERF_LAYERS)
    string(REPLACE ";" "," headers "${NEUROPERF_HEADERS_${layer}}")
    list(APPEND owners "${layer}:${headers}")
  endforeach()
  file(GLOB_RECURSE checked CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/src/*.cpp ${PROJECT_SOURCE_DIR}/src/*.hpp ${PROJECT_SOURCE_DIR}/src/*.inc
       ${PROJECT_SOURCE_DIR}/include/neuroperf/*.hpp ${PROJECT_SOURCE_DIR}/apps/*.cpp ${PROJECT_SOURCE_DIR}/apps/*.hpp
       ${PROJECT_SOURCE_DIR}/python/src/*.cpp ${PROJECT_SOURCE_DIR}/python/src/*.hpp
       ${PROJECT_SOURCE_DIR}/examples/cpp/*.cpp)
  set(stamp ${PROJECT_BINARY_DIR}/layers/check.stamp)
  string(REPLACE ";" "|" graph_arg "${graph}")
  string(REPLACE ";" "|" owners_arg "${owners}")
  add_custom_command(OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} "-DLAYERS=${graph_arg}" "-DOWNERS=${owners_arg}"
            -DSTAMP=${stamp} -P ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
    DEPENDS ${checked} ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake ${PROJECT_SOURCE_DIR}/cmake/NeuroperfLayers.cmake
    COMMENT "Checking the layers' includes" VERBATIM)
  add_custom_target(neuroperf_layer_check DEPENDS ${stamp})
  foreach(layer IN LISTS NEUROPERF_LAYERS)
    add_dependencies(neuroperf_${layer} neuroperf_layer_check)
  endforeach()
endfunction()
