# RFC 5228 5.1: address parts
require "fileinto";
if address :domain :is "from" "example.com" { fileinto "from-example-com"; }
if address :localpart :is ["to", "cc"] "carol+work" { fileinto "carol-local"; }
if address :all :is "cc" "dave@example.org" { fileinto "dave-casemap"; }
if address :all :comparator "i;octet" :is "cc" "dave@example.org" { fileinto "dave-octet"; }
if address :matches :domain "to" "*.example.com" { fileinto "to-sub"; }
if address :is "to" "bob@example.net" { fileinto "to-bob"; }
if not address :contains "from" "@" { fileinto "no-at"; }
