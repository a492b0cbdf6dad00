# postline_embed_sql(TARGET NAMESPACE COMPONENT FILES...)
# Compiles numbered migration files (NNN_name.sql) into a static library exposing
#   std::vector<postline::db::Migration> NAMESPACE::migrations();
# so every binary carries the exact schema it was built for.
function(postline_embed_sql target ns component)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_embedded.cpp)
  set(files ${ARGN})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNS=${ns} -DCOMPONENT=${component}
            "-DFILES=${files}" -P ${PROJECT_SOURCE_DIR}/cmake/embed_sql_script.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed_sql_script.cmake
    COMMENT "Embedding ${component} migrations"
    VERBATIM)
  add_library(${target} STATIC ${out})
  target_link_libraries(${target} PUBLIC postline_db)
endfunction()
