#include "services/delivery-queue/reports/compression.h"

#include "common/mailauth/text_util.h"

#include <zlib.h>

#include <cstdint>
#include <cstring>

namespace postline::queue::reports {
namespace {

// windowBits: 15 + 16 = gzip wrapper; -15 = raw deflate (zip).
std::optional<std::string> inflate_all(std::string_view in, int window_bits, size_t max_output, std::string* error,
                                       bool allow_members) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) {
    if (error) *error = "zlib init failed";
    return std::nullopt;
  }
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    size_t produced = sizeof buf - z.avail_out;
    if (out.size() + produced > max_output) {
      inflateEnd(&z);
      if (error) *error = "decompressed size over the limit of " + std::to_string(max_output) + " bytes";
      return std::nullopt;
    }
    out.append(buf, produced);
    if (rc == Z_STREAM_END) {
      // gzip may concatenate members (RFC 1952 2.2).
      if (allow_members && z.avail_in > 0) {
        inflateReset(&z);
        continue;
      }
      break;
    }
    if (rc != Z_OK) {
      inflateEnd(&z);
      if (error) *error = rc == Z_BUF_ERROR ? "truncated compressed data" : "corrupt compressed data";
      return std::nullopt;
    }
    if (z.avail_in == 0 && produced == 0) {
      inflateEnd(&z);
      if (error) *error = "truncated compressed data";
      return std::nullopt;
    }
  }
  inflateEnd(&z);
  return out;
}

uint32_t le32(std::string_view s, size_t at) {
  return uint32_t(uint8_t(s[at])) | uint32_t(uint8_t(s[at + 1])) << 8 | uint32_t(uint8_t(s[at + 2])) << 16 |
         uint32_t(uint8_t(s[at + 3])) << 24;
}
uint16_t le16(std::string_view s, size_t at) { return uint16_t(uint8_t(s[at]) | uint8_t(s[at + 1]) << 8); }

}  // namespace

std::string gzip_compress(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::optional<std::string> gzip_decompress(std::string_view data, size_t max_output, std::string* error) {
  if (data.size() < 18 || uint8_t(data[0]) != 0x1f || uint8_t(data[1]) != 0x8b) {
    if (error) *error = "not gzip data";
    return std::nullopt;
  }
  return inflate_all(data, 15 + 16, max_output, error, true);
}

std::optional<std::string> zip_extract(std::string_view a, size_t max_output, std::string* error,
                                       std::initializer_list<std::string_view> suffixes, size_t max_entries) {
  auto fail = [&](const char* why) -> std::optional<std::string> {
    if (error) *error = why;
    return std::nullopt;
  };
  // End of central directory: the last "PK\5\6" within 64 KiB + 22 of the end.
  if (a.size() < 22) return fail("not a zip archive");
  size_t eocd = std::string_view::npos;
  size_t lowest = a.size() > 65557 ? a.size() - 65557 : 0;
  for (size_t i = a.size() - 22 + 1; i-- > lowest;)
    if (le32(a, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string_view::npos) return fail("zip end of central directory not found");
  size_t entries = le16(a, eocd + 10);
  size_t cd_size = le32(a, eocd + 12), cd_offset = le32(a, eocd + 16);
  if (cd_offset > a.size() || cd_size > a.size() - cd_offset) return fail("zip central directory out of bounds");
  size_t pos = cd_offset;
  for (size_t n = 0; n < entries && n < max_entries; ++n) {
    if (pos + 46 > a.size() || le32(a, pos) != 0x02014b50) return fail("corrupt zip central directory");
    uint16_t flags = le16(a, pos + 8), method = le16(a, pos + 10);
    uint32_t csize = le32(a, pos + 20), usize = le32(a, pos + 24);
    uint16_t name_len = le16(a, pos + 28), extra_len = le16(a, pos + 30), comment_len = le16(a, pos + 32);
    uint32_t local = le32(a, pos + 42);
    if (pos + 46 + name_len > a.size()) return fail("corrupt zip central directory");
    std::string name(a.substr(pos + 46, name_len));
    pos += 46 + size_t(name_len) + extra_len + comment_len;
    if (name.empty() || name.back() == '/') continue;  // a directory
    bool wanted = suffixes.size() == 0;
    for (auto s : suffixes)
      if (mailauth::iends_with(name, s)) wanted = true;
    if (!wanted) continue;
    if (flags & 1) return fail("encrypted zip entry");
    if (csize == 0xffffffff || usize == 0xffffffff) return fail("zip64 entries are not supported");
    if (usize > max_output) return fail("zip entry larger than the limit");
    if (size_t(local) + 30 > a.size() || le32(a, local) != 0x04034b50) return fail("corrupt zip local header");
    size_t data = size_t(local) + 30 + le16(a, local + 26) + le16(a, local + 28);
    if (data > a.size() || csize > a.size() - data) return fail("zip entry out of bounds");
    std::string_view body = a.substr(data, csize);
    if (method == 0) return std::string(body);
    if (method != 8) return fail("zip compression method not supported");
    // The declared size is only a hint: the limit holds while inflating.
    return inflate_all(body, -15, max_output, error, false);
  }
  return fail("no report file in the zip archive");
}

}  // namespace postline::queue::reports
