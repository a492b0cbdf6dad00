// The queue's schema migrations, embedded from services/delivery-queue/sql/NNN_*.sql
// by postline_embed_sql (target postline_queue_sql).
#pragma once

#include "common/db/migrations.h"

#include <vector>

namespace postline::queue::sql {
std::vector<postline::db::Migration> migrations();
}  // namespace postline::queue::sql
