// The delivery keys the queue gives the mailstore (mailstore_deliveries, the
// exactly-once record) carry the message's queue id, which is its trace id in
// the logs: imapd reads it back to name the message a FETCH sent
// (docs/operations.md, "Logs"). Header-only; the mailstore itself treats keys
// as opaque strings.
//
//   e/<queue id>/<recipient index>   delivered inside the Enqueue transaction
//   w/<queue id>/<queue recipient id> delivered by a queue worker
//   w/<queue id>/<queue recipient id>.<n>  the n-th copy (n >= 2) a Sieve run
//                                    stored for that recipient (fileinto :copy ...)
//   s/<queue id>/<queue recipient id> not a delivery: the Sieve run record
//                                    (mailstore_sieve_runs, sql/018)
//
// Keys written before the worker form existed are the bare recipient id
// ("12345"): they name no queue id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postline::mailstore {

inline std::string enqueue_delivery_key(std::string_view queue_id, size_t recipient_index) {
  return "e/" + std::string(queue_id) + "/" + std::to_string(recipient_index);
}

inline std::string worker_delivery_key(std::string_view queue_id, int64_t recipient_id) {
  return "w/" + std::string(queue_id) + "/" + std::to_string(recipient_id);
}

// The key of copy `n` (0-based) a Sieve run stores: the first is the plain
// worker key, so a retry of a delivery from before Sieve ran matches it.
inline std::string sieve_copy_key(std::string_view queue_id, int64_t recipient_id, size_t n) {
  return worker_delivery_key(queue_id, recipient_id) + (n == 0 ? std::string() : "." + std::to_string(n + 1));
}

inline std::string sieve_run_key(std::string_view queue_id, int64_t recipient_id) {
  return "s/" + std::string(queue_id) + "/" + std::to_string(recipient_id);
}

// The queue id in a key of either delivery form; nullopt for anything else.
inline std::optional<std::string> queue_id_of_delivery_key(std::string_view key) {
  if (key.size() < 5 || (key[0] != 'e' && key[0] != 'w') || key[1] != '/') return std::nullopt;
  const auto slash = key.rfind('/');
  if (slash <= 2 || slash + 1 == key.size()) return std::nullopt;
  return std::string(key.substr(2, slash - 2));
}

}  // namespace postline::mailstore
