# messages: plain.eml
require "imap4flags";
if hasflag :comparator "i;octet" "\\Seen" { keep; }
setflag;
