// libFuzzer entry point for the parsers of received reports (reports/):
// byte 0 picks the parser, the rest is its input. 0: DMARC aggregate XML
// (parse_dmarc_xml, and the generator over what it read, which must parse
// back); 1: TLS-RPT JSON (parse_tlsrpt_json, round trip likewise); 2: a
// whole message through extract_reports (MIME, gzip, zip) with a small
// decompression limit; 3: rua / TLSRPT records.
#include "services/delivery-queue/reports/compression.h"
#include "services/delivery-queue/reports/dmarc_report.h"
#include "services/delivery-queue/reports/report_mail.h"
#include "services/delivery-queue/reports/tlsrpt_report.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  using namespace postline::queue::reports;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 4) {
    case 0: {
      XmlLimits limits;
      limits.max_bytes = 1 << 20;
      std::string err;
      auto r = parse_dmarc_xml(in, &err, limits, 1000);
      check(r || !err.empty());
      if (r) {
        // What we read, we can write; what we write, we read back alike.
        auto again = parse_dmarc_xml(build_dmarc_xml(*r), &err);
        check(again.has_value());
        check(again->rows.size() == r->rows.size());
        check(again->total_messages() == r->total_messages());
      }
      break;
    }
    case 1: {
      std::string err;
      auto r = parse_tlsrpt_json(in, &err, 1 << 20, 100, 100);
      check(r || !err.empty());
      if (r) {
        auto again = parse_tlsrpt_json(build_tlsrpt_json(*r), &err);
        check(again.has_value());
        check(again->policies.size() == r->policies.size());
      }
      break;
    }
    case 2: {
      ExtractLimits limits;
      limits.max_decompressed = 256 * 1024;
      std::vector<std::string> errors;
      for (const auto& f : extract_reports(in, limits, &errors)) check(f.document.size() <= limits.max_decompressed);
      std::string err;
      if (auto g = gzip_decompress(in, 256 * 1024, &err)) check(g->size() <= 256 * 1024);
      if (auto z = zip_extract(in, 256 * 1024, &err)) check(z->size() <= 256 * 1024);
      break;
    }
    case 3: {
      for (const auto& u : parse_report_uris(in)) check(u.scheme.size() < in.size() + 1);
      (void)parse_tlsrpt_record(in);
      (void)looks_like_report(in);
      break;
    }
  }
  return 0;
}
