# messages: plain.eml
if header :is :is "subject" "x" { keep; }
