# RFC 5228: header with :is/:contains/:matches, comparators, anyof/allof/not, elsif/else
require "fileinto";
if header :contains "subject" "hello" {
  fileinto "Hello";
} elsif header :is :comparator "i;octet" "subject" "[dev] Release 1.2 is out" {
  fileinto "Dev";
} elsif anyof (header :matches "subject" "*pills*", not exists "date") {
  fileinto "Junk";
} elsif allof (header :matches "from" "*@example.?r*", true) {
  fileinto "French";
} else {
  fileinto "Other";
}
