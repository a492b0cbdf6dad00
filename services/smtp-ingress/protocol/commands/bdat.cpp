// BDAT (RFC 3030 CHUNKING). Chunk octets are counted, not parsed: no
// dot-stuffing and no end marker, so there is nothing to smuggle. A refused
// chunk is still read in full (RFC 3030 §2) so the session stays in step
// with a pipelining client; its error reply comes after the octets.
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

namespace postline::smtp {

void Session::cmd_bdat(std::string_view args) {
  size_t sp = args.find(' ');
  std::string_view size_text = args.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  bool last = false;
  if (!rest.empty()) {
    if (rest.size() != 4 || (rest[0] | 0x20) != 'l' || (rest[1] | 0x20) != 'a' || (rest[2] | 0x20) != 's' ||
        (rest[3] | 0x20) != 't')
      return error_reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
    last = true;
  }
  if (size_text.empty() || size_text.size() > 19 || size_text.find_first_not_of("0123456789") != std::string::npos)
    return error_reply(501, "5.5.4", "Syntax: BDAT size [LAST]");
  const uint64_t size = std::stoull(std::string(size_text));

  bdat_error_ = BdatError::kNone;
  if (!tx_.active) {
    bdat_error_ = BdatError::kNoMail;
  } else if (tx_.recipients.empty()) {
    bdat_error_ = BdatError::kNoRecipients;
  } else if (tx_.bdat_no_storage) {
    bdat_error_ = BdatError::kNoStorage;
  } else if (tx_.bdat_failed || tx_.data.size() + size > config_.max_message_size) {
    bdat_error_ = BdatError::kTooBig;
  } else {
    tx_.bdat_started = true;
  }
  bdat_remaining_ = size;
  bdat_chunk_size_ = size;
  bdat_last_ = last;
  mode_ = Mode::kBdat;
  if (size == 0) bdat_chunk_done();
}

bool Session::process_bdat() {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(bdat_remaining_, in_.size()));
  if (bdat_error_ == BdatError::kNone) {
    tx_.data.append(in_, 0, n);
    // Charged as the bytes arrive (smtp.max_inflight_data), so announcing a big
    // chunk and sending nothing holds no share; over it, the rest is dropped.
    if (!data_lease_.cover(tx_.data.size() * config_.data_cost_factor)) {
      bdat_error_ = BdatError::kNoStorage;
      std::string().swap(tx_.data);
      data_lease_.reset();
    }
  }
  in_.erase(0, n);
  bdat_remaining_ -= n;
  if (bdat_remaining_ > 0) return false;
  bdat_chunk_done();
  return true;
}

void Session::bdat_chunk_done() {
  mode_ = Mode::kCommand;
  switch (bdat_error_) {
    case BdatError::kNoMail: return error_reply(503, "5.5.1", "Need MAIL command");
    case BdatError::kNoRecipients:
      if (bdat_last_) reset_transaction();
      return error_reply(554, "5.5.1", "No valid recipients");
    case BdatError::kTooBig:
      if (!tx_.bdat_failed) {
        observer_->on_limit("message_size");
        observer_->on_message_rejected("size");
        log(1, "message refused: larger than smtp.max_message_size (BDAT)");
      }
      tx_.bdat_failed = true;
      tx_.data.clear();
      if (bdat_last_) reset_transaction();
      return error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    case BdatError::kNoStorage:
      if (!tx_.bdat_failed) {
        observer_->on_limit("inflight_data");
        observer_->on_message_rejected("inflight_data");
        log(2, "message refused: smtp.max_inflight_data reached (BDAT)");
      }
      tx_.bdat_failed = tx_.bdat_no_storage = true;
      tx_.data.clear();
      data_lease_.reset();
      if (bdat_last_) reset_transaction();
      return reply(452, "4.3.1", "Insufficient system storage, try again later");
    case BdatError::kNone: break;
  }
  if (!bdat_last_) return reply(250, "2.0.0", fmt::format("{} octets received", bdat_chunk_size_));
  std::string message = std::move(tx_.data);
  tx_.data.clear();
  finish_message(std::move(message), /*bare_newline=*/false, /*too_big=*/false);
}

}  // namespace postline::smtp
