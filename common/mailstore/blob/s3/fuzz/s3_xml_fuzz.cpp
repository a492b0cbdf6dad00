// libFuzzer entry point for the S3 answer reader (s3_xml.h).
#include "common/mailstore/blob/s3/s3_xml.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view doc(reinterpret_cast<const char*>(data), size);
  (void)postline::mailstore::s3::xml_element_text(doc, "UploadId");
  (void)postline::mailstore::s3::xml_element_text(doc, "Code", 16);
  (void)postline::mailstore::s3::xml_error_code(doc);
  return 0;
}
