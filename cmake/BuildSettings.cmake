# taskpool::build_settings: the warnings and sanitizer flags every target links.
add_library(taskpool_build_settings INTERFACE)
add_library(taskpool::build_settings ALIAS taskpool_build_settings)

target_compile_options(taskpool_build_settings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wimplicit-fallthrough)
if(TASKPOOL_WERROR)
    target_compile_options(taskpool_build_settings INTERFACE -Werror)
endif()

if(TASKPOOL_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "TASKPOOL_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++-14")
    endif()
    target_compile_options(taskpool_build_settings INTERFACE
        -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
        -fno-sanitize-recover=all)
    target_link_options(taskpool_build_settings INTERFACE -fsanitize=address,undefined)
endif()

if(TASKPOOL_SANITIZE)
    if(TASKPOOL_SANITIZE MATCHES "thread" AND TASKPOOL_SANITIZE MATCHES "address")
        message(FATAL_ERROR "TASKPOOL_SANITIZE: thread and address cannot be combined")
    endif()
    target_compile_options(taskpool_build_settings INTERFACE
        -fsanitize=${TASKPOOL_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(taskpool_build_settings INTERFACE -fsanitize=${TASKPOOL_SANITIZE})
    if(TASKPOOL_SANITIZE MATCHES "undefined")
        # The vptr check cannot see the dynamic types libstdc++ keeps to itself:
        # std::system_category() is "not an error_category" to it, and any
        # error_code::message() of an OS error aborts.
        target_compile_options(taskpool_build_settings INTERFACE -fno-sanitize=vptr)
    endif()
endif()
