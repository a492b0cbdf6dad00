// sequence-set (RFC 9051 9): "1:4,7,9:*". '*' means the largest number in use
// (the last message's sequence number or UID). Ranges are normalised low:high.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap {

class SequenceSet {
 public:
  static constexpr uint32_t kStar = 0;  // placeholder for '*' until resolved

  // nullopt on a syntax error (or a zero, which is not a valid number here).
  // With `allow_saved`, "$" (RFC 5182 SEARCHRES: the saved search result) may
  // stand alone or among the items; the set then also holds saved() messages,
  // which the caller resolves against the session (resolve() leaves them out).
  static std::optional<SequenceSet> parse(std::string_view text, bool allow_saved = false);
  static SequenceSet range(uint32_t lo, uint32_t hi);

  // True if n is in the set, with '*' standing for `star`.
  bool contains(uint32_t n, uint32_t star) const;
  // Ranges with '*' replaced by `star`, low <= high.
  std::vector<std::pair<uint32_t, uint32_t>> resolve(uint32_t star) const;
  bool empty() const { return ranges_.empty() && !saved_; }
  bool saved() const { return saved_; }
  // Compact text form of a sorted list of numbers: 1:3,5 (for UIDPLUS, ESEARCH).
  static std::string format(const std::vector<uint32_t>& sorted);

 private:
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;  // as written; kStar = '*'
  bool saved_ = false;                                 // "$" was among the items
};

}  // namespace postline::imap
