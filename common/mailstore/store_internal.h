// Pieces shared by delivery.cpp and store.cpp; not part of the library's API.
#pragma once

#include "common/mailstore/message_meta.h"
#include "common/mailstore/store.h"

#include <pqxx/pqxx>

namespace postline::mailstore::internal {

struct Allocation {
  int64_t mailbox_id = 0, uidvalidity = 0, first_uid = 0, modseq = 0;
};

// Locks the mailbox row and reserves `count` UIDs and one new MODSEQ.
std::optional<Allocation> allocate(pqxx::transaction_base& tx, int64_t user_id, const std::string& name,
                                   int64_t count);
std::optional<Allocation> allocate_by_id(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         int64_t count);

// What a message row needs that depends only on its bytes (MIME analysis,
// search text, SHA-256). Computed before the mailbox row is locked, so
// concurrent deliveries into one mailbox wait for each other only during the
// row insert and the commit, not during parsing.
struct PreparedMessage {
  MessageMeta meta;
  std::string key;  // raw SHA-256 of the body
};
PreparedMessage prepare_message(const std::string& body);

// Stores the blob (content-addressed, so safe before the UID is known).
void store_blob(pqxx::transaction_base& tx, const PreparedMessage& prepared, const std::string& body);

// Inserts the message row of a prepared message whose blob is stored.
void insert_prepared(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t uid, int64_t modseq,
                     const PreparedMessage& prepared, const std::vector<std::string>& flags,
                     std::optional<int64_t> internaldate);

// prepare_message + store_blob + insert_prepared (body already canonical CRLF).
void insert_message(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t uid, int64_t modseq,
                    const std::string& body, const std::vector<std::string>& flags,
                    std::optional<int64_t> internaldate);

std::string join_flags(const std::vector<std::string>& flags);  // sorted, distinct, space-separated
std::vector<std::string> split_flags(const std::string& text);
std::string int_array(const std::vector<int64_t>& v);           // "{1,2,3}"

}  // namespace postline::mailstore::internal
