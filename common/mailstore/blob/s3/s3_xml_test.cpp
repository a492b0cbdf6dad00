#include "common/mailstore/blob/s3/s3_xml.h"

#include <gtest/gtest.h>

using namespace postline::mailstore::s3;

TEST(S3Xml, UploadId) {
  const std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBs&amp;b2Fk</UploadId></InitiateMultipartUploadResult>";
  EXPECT_EQ(xml_element_text(doc, "UploadId"), "VXBs&b2Fk");
  EXPECT_EQ(xml_element_text(doc, "Key"), "k");
  EXPECT_EQ(xml_element_text(doc, "Missing"), std::nullopt);
  EXPECT_EQ(xml_error_code(doc), std::nullopt);
}

TEST(S3Xml, ErrorCode) {
  EXPECT_EQ(xml_error_code("<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>m &lt;x&gt;</Message></Error>"),
            "NoSuchKey");
  EXPECT_EQ(xml_error_code("<Error><Message>no code</Message></Error>"), "unknown");
  EXPECT_EQ(xml_error_code("<CompleteMultipartUploadResult><Code>x</Code></CompleteMultipartUploadResult>"),
            std::nullopt);
}

TEST(S3Xml, PrefixNamesAndLimits) {
  EXPECT_EQ(xml_element_text("<CodeX>a</CodeX><Code>b</Code>", "Code"), "b");
  EXPECT_EQ(xml_element_text("<Code/>", "Code"), "");
  EXPECT_EQ(xml_element_text("<Code>" + std::string(100, 'a') + "</Code>", "Code", 10), std::nullopt);
  EXPECT_EQ(xml_element_text("<Code>a &bogus; b</Code>", "Code"), std::nullopt);
  EXPECT_EQ(xml_element_text("<Code>&#65;&#x42;</Code>", "Code"), "AB");
  EXPECT_EQ(xml_element_text("<Code>unterminated", "Code"), std::nullopt);
  EXPECT_EQ(xml_element_text(std::string(kMaxS3Xml + 1, ' '), "Code"), std::nullopt);
}
