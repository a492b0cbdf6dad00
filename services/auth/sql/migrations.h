// The auth component's migrations, embedded from services/auth/sql/NNN_*.sql by
// postline_embed_sql (target postline_auth_sql). `postline migrate` applies them;
// postline-authd checks them at start.
#pragma once

#include <vector>

#include "common/db/migrations.h"

namespace postline::auth::sql {
std::vector<postline::db::Migration> migrations();
}  // namespace postline::auth::sql
