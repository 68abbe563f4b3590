# ctest install_consumer: install the build into a temporary prefix, then build and run a tiny consumer
# with find_package(framebridge) and another with pkg-config.
# Inputs: SOURCE_DIR, BUILD_DIR, WORK_DIR, CXX, CC.
file(REMOVE_RECURSE "${WORK_DIR}")
set(PREFIX "${WORK_DIR}/prefix")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}" RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install failed: ${rc}")
endif()

set(CONSUMER "${SOURCE_DIR}/tests/consumer")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${CONSUMER}" -B "${WORK_DIR}/cmake-build"
                        -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_C_COMPILER=${CC}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "find_package consumer: configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/cmake-build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "find_package consumer: build failed")
endif()
foreach(exe consumer_cpp consumer_c consumer_c_static)
  execute_process(COMMAND "${WORK_DIR}/cmake-build/${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "ok")
    message(FATAL_ERROR "find_package consumer ${exe}: rc=${rc} out=${out}")
  endif()
endforeach()

find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/lib/pkgconfig:${PREFIX}/lib/x86_64-linux-gnu/pkgconfig")
execute_process(COMMAND ${PKG_CONFIG} --cflags --libs framebridge OUTPUT_VARIABLE flags RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config framebridge failed")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND ${CC} -std=c11 -Wall -Wextra -Werror "${CONSUMER}/consumer.c" ${flags}
                        -o "${WORK_DIR}/pkgconfig_c" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config consumer: compile failed")
endif()
file(GLOB libdirs "${PREFIX}/lib*" "${PREFIX}/lib/*")
execute_process(COMMAND ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${PREFIX}/lib:${PREFIX}/lib/x86_64-linux-gnu"
                        "${WORK_DIR}/pkgconfig_c" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "ok")
  message(FATAL_ERROR "pkg-config consumer: rc=${rc} out=${out}")
endif()
# Typed frames from the installed headers (header-only FlatBuffers part, no exceptions):
# examples/typed.cpp against the installed include directory.
execute_process(COMMAND ${PKG_CONFIG} --cflags framebridge OUTPUT_VARIABLE cflags RESULT_VARIABLE rc
                OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(cflags UNIX_COMMAND "${cflags}")
execute_process(COMMAND ${CXX} -std=c++17 -Wall -Wextra -Werror -fno-exceptions "${SOURCE_DIR}/examples/typed.cpp"
                        ${cflags} -o "${WORK_DIR}/typed_cpp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "typed-frame consumer: compile failed")
endif()
execute_process(COMMAND "${WORK_DIR}/typed_cpp" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "fallbacks 0")
  message(FATAL_ERROR "typed-frame consumer: rc=${rc} out=${out}")
endif()
message(STATUS "install check: find_package, pkg-config and typed-frame consumers ok")
