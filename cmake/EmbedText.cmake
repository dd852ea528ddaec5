# embed_text(<target> <header> <namespace> <files>...): generates <header>, in which
# each file's text is a std::string_view named after the file (`lua/take.lua` is
# `take_lua`), and adds it to <target>. Text the binary carries (Lua scripts, web
# pages) stays in files of its own, where editors and linters know it.
function(embed_text target header namespace)
    string(JOIN "|" files ${ARGN})
    add_custom_command(
        OUTPUT ${header}
        COMMAND ${CMAKE_COMMAND} -DOUT=${header} -DNAMESPACE=${namespace} -DFILES=${files}
                -P ${PROJECT_SOURCE_DIR}/cmake/embed_text_write.cmake
        DEPENDS ${ARGN} ${PROJECT_SOURCE_DIR}/cmake/embed_text_write.cmake
        COMMENT "Embedding ${header}"
        VERBATIM)
    target_sources(${target} PRIVATE ${header})
endfunction()
