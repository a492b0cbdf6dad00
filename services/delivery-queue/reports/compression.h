// gzip (RFC 1952) and zip (PKWARE APPNOTE: stored and deflate entries) for
// report attachments, on zlib. Every decompression has an output limit that
// is checked while inflating, so a zip bomb costs at most the limit, never
// its claimed size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postline::queue::reports {

std::string gzip_compress(std::string_view data);
// nullopt with *error on a corrupt stream or more than max_output bytes.
std::optional<std::string> gzip_decompress(std::string_view data, size_t max_output, std::string* error);

// The first entry of a zip archive whose name ends in one of `suffixes`
// (case-insensitive; an empty list takes the first file entry). Reads the
// central directory; at most max_entries entries are looked at; encrypted
// entries and methods other than stored/deflate are refused.
std::optional<std::string> zip_extract(std::string_view archive, size_t max_output, std::string* error,
                                       std::initializer_list<std::string_view> suffixes = {".xml", ".json"},
                                       size_t max_entries = 64);

}  // namespace postline::queue::reports
