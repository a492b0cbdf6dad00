// libFuzzer entry point for delivery/transport_encoding (README.md here): byte 0
// says whether the next hop offers 8BITMIME, the rest is the message.
#include "services/delivery-queue/delivery/transport_encoding.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

size_t longest_line(std::string_view s) {
  size_t longest = 0, start = 0;
  while (start < s.size()) {
    size_t eol = s.find('\n', start);
    size_t end = eol == std::string_view::npos ? s.size() : eol;
    size_t len = end - start;
    if (eol != std::string_view::npos && len > 0 && s[end - 1] == '\r') --len;
    if (len > longest) longest = len;
    if (eol == std::string_view::npos) break;
    start = eol + 1;
  }
  return longest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using postline::queue::TransportEncoding;
  if (size == 0) return 0;
  const bool eight_bit_ok = data[0] & 1;
  const std::string_view message(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto result = postline::queue::encode_for_transport(message, eight_bit_ok);
  switch (result.status) {
    case TransportEncoding::Status::kUnchanged:
      check(!postline::queue::needs_transport_encoding(message, eight_bit_ok));
      break;
    case TransportEncoding::Status::kImpossible:
      check(!result.error.empty());
      break;
    case TransportEncoding::Status::kConverted: {
      // What goes on the wire fits: no long line, and 7-bit when 8BITMIME is missing...
      check(longest_line(result.message) <= postline::queue::kMaxLineOctets);
      if (!eight_bit_ok)
        for (unsigned char c : result.message) check(c < 0x80);
      check(!postline::queue::needs_transport_encoding(result.message, eight_bit_ok));
      // ...so converting it again changes nothing.
      check(postline::queue::encode_for_transport(result.message, eight_bit_ok).status ==
            TransportEncoding::Status::kUnchanged);
      break;
    }
  }
  return 0;
}
