# messages: plain.eml
require "imap4flags";
addflag "\\Seen";
addflag "v" "\\Seen";
