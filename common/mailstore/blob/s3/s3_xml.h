// The few values Postline reads from S3's XML answers (UploadId, an error's
// Code and Message): the text of the first element of a name, entities
// decoded. Not a general XML parser: no DTDs, no namespaces beyond ignoring
// them. Limits: documents over kMaxS3Xml bytes and values over `max_value`
// bytes are refused (nullopt). Fuzzed by fuzz/s3_xml_fuzz.cpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postline::mailstore::s3 {

inline constexpr size_t kMaxS3Xml = 1 << 20;

std::optional<std::string> xml_element_text(std::string_view doc, std::string_view name, size_t max_value = 4096);

// An <Error> document's Code, or nullopt when `doc` is not one (S3 may answer
// 200 to CompleteMultipartUpload and put an error in the body).
std::optional<std::string> xml_error_code(std::string_view doc);

}  // namespace postline::mailstore::s3
