# messages: plain.eml
require ["index"];
if true { keep; }
if header :last "subject" "x" { keep; }
