# messages: plain.eml
require ["fileinto", "copy"];
fileinto :copy "a";
fileinto "a";
