// The mailstore schema, embedded at build time from sql/NNN_*.sql
// (cmake/EmbedSql.cmake). `postline migrate` applies it; imapd and queued check it.
#pragma once

#include "common/db/migrations.h"

#include <vector>

namespace postline::mailstore::sql {
std::vector<postline::db::Migration> migrations();
}  // namespace postline::mailstore::sql
