# messages: plain.eml
require "fileinto";
fileinto "unterminated;
keep;
