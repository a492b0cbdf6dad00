# messages: plain.eml
require ["encoded-character", "fileinto"];
keep;
fileinto "${unicode:D800}";
