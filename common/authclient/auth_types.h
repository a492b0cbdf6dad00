// What authd answers about a login, a SASL step and a quota root, as the
// protocol services (imapd, managesieved) see it. No gRPC here: the sans-I/O
// protocol code uses these types, authd_client.h fills them over gRPC.
#pragma once

#include <cstdint>
#include <string>

namespace postline::authclient {

enum class AuthStatus { kOk, kInvalid, kThrottled, kDisabled, kUnavailable };

struct AuthOutcome {
  AuthStatus status = AuthStatus::kUnavailable;
  int64_t user_id = 0;
  std::string email;           // the account's canonical address
  int64_t quota_bytes = 0;     // 0 = unlimited
  int64_t quota_messages = 0;  // 0 = unlimited
  bool admin = false;          // may GETQUOTA/SETQUOTA other users' roots (authd decides again)
  std::string shard;           // the mailstore shard the account is on (docs/DESIGN.md "Sharding")
  bool moving = false;         // being moved between shards: the login waits
};

// One SaslStart/SaslStep answer. Payloads are raw (decoded) bytes.
struct SaslReply {
  enum class State { kContinue, kSuccess, kFailure } state = State::kFailure;
  std::string challenge;        // kContinue: next challenge; kSuccess: final server data (may be empty)
  std::string conversation_id;  // kContinue
  AuthOutcome outcome;          // kSuccess: kOk + account; kFailure: why (kUnavailable when authd is unreachable)
};

// A quota root's limits as authd reports them (GetQuota/SetQuota).
struct QuotaReply {
  enum class Status { kOk, kDenied, kNotFound, kInvalid, kUnavailable } status = Status::kUnavailable;
  int64_t user_id = 0;
  std::string email;
  int64_t quota_bytes = 0, quota_messages = 0;  // 0 = unlimited
};

}  // namespace postline::authclient
