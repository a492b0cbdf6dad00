// smtpd's schema migrations (greylisting, rate limits), embedded from
// services/smtp-ingress/sql/NNN_*.sql by postline_embed_sql (target postline_smtp_sql).
#pragma once

#include "common/db/migrations.h"

#include <vector>

namespace postline::smtp::sql {
std::vector<postline::db::Migration> migrations();
}  // namespace postline::smtp::sql
