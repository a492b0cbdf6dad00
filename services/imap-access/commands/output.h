// A response under construction that can refer to bytes it does not own: the
// bodies of a FETCH are views into the store's result sets (kept alive here),
// written to the socket with one gathering write instead of being copied into
// the response first. Text is appended as usual; only views of at least
// kMinView bytes are kept as views (smaller ones are cheaper to copy than to
// give the kernel another buffer).
#pragma once

#include <boost/asio/buffer.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap {

class Output {
 public:
  static constexpr size_t kMinView = 16 * 1024;

  std::string& text() { return text_; }
  void append(std::string_view bytes) { text_.append(bytes); }
  // `bytes` stays valid while `owner` lives (or, with no owner, while this does).
  void append_view(std::string_view bytes, std::shared_ptr<const void> owner);
  void append(Output&& other);

  bool empty() const { return text_.empty() && views_.empty(); }
  size_t size() const { return text_.size() + view_bytes_; }
  void reserve_text(size_t n) { text_.reserve(n); }
  // Everything as one string (tests, and callers that cannot gather).
  std::string flatten() const;
  // The buffers for a gathering write, in order; valid while this lives.
  std::vector<boost::asio::const_buffer> buffers() const;

 private:
  struct View {
    size_t text_end;  // the text before this view ends here
    std::string_view bytes;
  };
  std::string text_;
  std::vector<View> views_;
  std::vector<std::shared_ptr<const void>> owners_;
  size_t view_bytes_ = 0;
};

// Appends "{n}\r\n<bytes>" (or literal8 "~{n}\r\n") to `out`, the bytes as a
// view when they are large.
void append_literal(Output& out, std::string_view bytes, const std::shared_ptr<const void>& owner,
                    bool binary = false);

}  // namespace postline::imap
