# messages: plain.eml
require "fileinto";

if header :comparator "i;bogus" "subject" "x" {
  fileinto "a";
}
