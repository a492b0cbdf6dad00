#include "services/imap-access/commands/output.h"

#include "services/imap-access/protocol/encoder.h"

#include <cstring>

namespace postline::imap {

void Output::append_view(std::string_view bytes, std::shared_ptr<const void> owner) {
  if (bytes.size() < kMinView) {
    text_.append(bytes);
    return;
  }
  views_.push_back({text_.size(), bytes});
  view_bytes_ += bytes.size();
  if (owner && (owners_.empty() || owners_.back() != owner)) owners_.push_back(std::move(owner));
}

void Output::append(Output&& other) {
  if (other.views_.empty()) {
    text_ += other.text_;
    return;
  }
  const size_t base = text_.size();
  for (auto& v : other.views_) views_.push_back({base + v.text_end, v.bytes});
  text_ += other.text_;
  view_bytes_ += other.view_bytes_;
  for (auto& o : other.owners_) owners_.push_back(std::move(o));
  other = Output();
}

std::string Output::flatten() const {
  std::string out;
  out.reserve(size());
  size_t at = 0;
  for (const auto& v : views_) {
    out.append(text_, at, v.text_end - at);
    out.append(v.bytes);
    at = v.text_end;
  }
  out.append(text_, at, std::string::npos);
  return out;
}

std::vector<boost::asio::const_buffer> Output::buffers() const {
  std::vector<boost::asio::const_buffer> out;
  out.reserve(2 * views_.size() + 1);
  size_t at = 0;
  for (const auto& v : views_) {
    if (v.text_end > at) out.emplace_back(text_.data() + at, v.text_end - at);
    out.emplace_back(v.bytes.data(), v.bytes.size());
    at = v.text_end;
  }
  if (text_.size() > at) out.emplace_back(text_.data() + at, text_.size() - at);
  return out;
}

void append_literal(Output& out, std::string_view bytes, const std::shared_ptr<const void>& owner, bool binary) {
  // A view is sent as it is stored: one holding NUL goes through the copy,
  // which replaces it (append_literal).
  if (bytes.size() < Output::kMinView || !owner ||
      (!binary && std::memchr(bytes.data(), '\0', bytes.size()) != nullptr)) {
    append_literal(out.text(), bytes, binary);
    return;
  }
  out.text() += binary ? "~{" : "{";
  out.text() += std::to_string(bytes.size());
  out.text() += "}\r\n";
  out.append_view(bytes, owner);
}

}  // namespace postline::imap
