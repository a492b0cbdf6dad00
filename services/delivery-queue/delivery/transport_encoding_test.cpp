// Issue 22 items 1 and 2: 7-bit conversion and long-line re-encoding.
#include "services/delivery-queue/delivery/transport_encoding.h"

#include "common/mime/mime.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace postline::queue;

namespace {

bool seven_bit(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x80; });
}

size_t longest_line(const std::string& s) {
  size_t longest = 0, start = 0;
  while (start <= s.size()) {
    size_t eol = s.find("\r\n", start);
    if (eol == std::string::npos) eol = s.size();
    longest = std::max(longest, eol - start);
    start = eol + 2;
  }
  return longest;
}

// The decoded body of part `path` of `raw` ("" = the message's own body).
std::string decoded(const std::string& raw, const std::string& path) {
  auto msg = postline::mime::parse(raw);
  auto section = postline::mime::parse_section(path);
  const postline::mime::Part* p = postline::mime::find_part(msg, section->path);
  if (!p) return "<no such part>";
  return postline::mime::decode_transfer(raw.substr(p->body_start, p->body_end - p->body_start), p->encoding);
}

}  // namespace

TEST(TransportEncoding, SevenBitMessagesAreUnchanged) {
  const std::string m = "Subject: x\r\n\r\nplain\r\n";
  EXPECT_FALSE(needs_transport_encoding(m, false));
  EXPECT_EQ(encode_for_transport(m, false).status, TransportEncoding::Status::kUnchanged);
}

TEST(TransportEncoding, EightBitTextBecomesQuotedPrintableWithMimeVersion) {
  const std::string body = "Gr\xc3\xbc\xc3\x9f" "e, caf\xc3\xa9 =\r\nzweite Zeile \r\n";
  const std::string m = "From: a@example.test\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Transfer-Encoding: 8bit\r\n\r\n" + body;
  auto r = encode_for_transport(m, false);
  ASSERT_EQ(r.status, TransportEncoding::Status::kConverted) << r.error;
  EXPECT_TRUE(seven_bit(r.message));
  EXPECT_NE(r.message.find("MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"),
            std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("Content-Transfer-Encoding: 8bit"), std::string::npos);
  EXPECT_NE(r.message.find("Gr=C3=BC=C3=9Fe, caf=C3=A9 =3D\r\nzweite Zeile=20\r\n"), std::string::npos) << r.message;
  EXPECT_EQ(decoded(r.message, ""), body);
  // Only the body's encoding changed: every other header field is kept as it was.
  EXPECT_EQ(r.message.rfind("From: a@example.test\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n", 0), 0u);
}

TEST(TransportEncoding, MultipartConvertsOnlyTheEightBitParts) {
  const std::string png = std::string("\x89PNG\r\n\x1a\n\x00\x01\xff", 11);
  const std::string m =
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
      "preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nascii only\r\n"
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nna\xc3\xafve\r\n"
      "--b1\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n" + png + "\r\n--b1--\r\n";
  auto r = encode_for_transport(m, false);
  ASSERT_EQ(r.status, TransportEncoding::Status::kConverted) << r.error;
  EXPECT_TRUE(seven_bit(r.message)) << r.message;
  EXPECT_NE(r.message.find("--b1\r\nContent-Type: text/plain\r\n\r\nascii only\r\n--b1\r\n"), std::string::npos);
  EXPECT_NE(r.message.find("Content-Transfer-Encoding: 7bit\r\n\r\npreamble"), std::string::npos) << r.message;
  EXPECT_EQ(decoded(r.message, "2"), "na\xc3\xafve");
  EXPECT_EQ(decoded(r.message, "3"), png);
  EXPECT_NE(r.message.find("Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"), std::string::npos);
}

TEST(TransportEncoding, EncapsulatedMessagesAreConvertedInside) {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
      "Subject: inner\r\n\r\n\xc3\xa9t\xc3\xa9\r\n--b--\r\n";
  auto r = encode_for_transport(m, false);
  ASSERT_EQ(r.status, TransportEncoding::Status::kConverted) << r.error;
  EXPECT_TRUE(seven_bit(r.message));
  EXPECT_EQ(decoded(r.message, "1.1"), "\xc3\xa9t\xc3\xa9");
}

TEST(TransportEncoding, WhatCannotBeConvertedIsNamed) {
  // 8-bit header: needs SMTPUTF8.
  auto r = encode_for_transport("Subject: caf\xc3\xa9\r\n\r\nx\r\n", false);
  EXPECT_EQ(r.status, TransportEncoding::Status::kImpossible);
  EXPECT_NE(r.error.find("header"), std::string::npos) << r.error;
  // A multipart whose boundary never appears.
  r = encode_for_transport("Content-Type: multipart/mixed; boundary=zz\r\n\r\n\xc3\xa9\r\n", false);
  EXPECT_EQ(r.status, TransportEncoding::Status::kImpossible);
  EXPECT_NE(r.error.find("boundary"), std::string::npos) << r.error;
  // An encoding we do not know.
  r = encode_for_transport("Content-Transfer-Encoding: x-uuencode\r\n\r\n\xc3\xa9\r\n", false);
  EXPECT_EQ(r.status, TransportEncoding::Status::kImpossible);
  EXPECT_NE(r.error.find("x-uuencode"), std::string::npos) << r.error;
  // A header line over 998 octets.
  r = encode_for_transport("Subject: " + std::string(1200, 'a') + "\r\n\r\nx\r\n", true);
  EXPECT_EQ(r.status, TransportEncoding::Status::kImpossible);
  EXPECT_NE(r.error.find("998"), std::string::npos) << r.error;
}

TEST(TransportEncoding, LongLinesAreReEncodedAndEightBitKeptWhenAllowed) {
  const std::string text = std::string(3000, 'x') + " \xc3\xa9\r\nshort\r\n";
  const std::string m = "Subject: long\r\n\r\n" + text;
  EXPECT_TRUE(needs_transport_encoding(m, true));
  auto r = encode_for_transport(m, true);
  ASSERT_EQ(r.status, TransportEncoding::Status::kConverted) << r.error;
  EXPECT_LE(longest_line(r.message), 76u);
  EXPECT_EQ(decoded(r.message, ""), text);
  // 998 octets exactly is within the limit.
  EXPECT_FALSE(needs_transport_encoding("Subject: ok\r\n\r\n" + std::string(998, 'y') + "\r\n", true));
  EXPECT_TRUE(needs_transport_encoding("Subject: ok\r\n\r\n" + std::string(999, 'y') + "\r\n", true));
}

TEST(TransportEncoding, QuotedPrintableLinesStayWithin76) {
  const std::string qp = quoted_printable(std::string(200, '\xe9') + "\r\nend\t");
  EXPECT_LE(longest_line(qp), 76u);
  EXPECT_EQ(postline::mime::decode_quoted_printable(qp), std::string(200, '\xe9') + "\r\nend\t");
  EXPECT_TRUE(qp.size() >= 3 && qp.compare(qp.size() - 3, 3, "=09") == 0);
}
