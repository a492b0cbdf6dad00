# messages: plain.eml
require ["encoded-character", "fileinto", "variables"];
set "b" "vb";
fileinto "${hex: 41 42 }-${HEX:43}-${hex:}-${hex:123}-${unicode:1F600}";
fileinto "${hex:24}{b}";
