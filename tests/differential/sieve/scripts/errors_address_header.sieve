# messages: plain.eml
require "fileinto";
if address :is "from" "alice@example.com" { keep; }
if address :is ["to", "list-id"] "x" { keep; }
