# messages: plain.eml
require "fileinto";
if true {
  require "copy";
}
