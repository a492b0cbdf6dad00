require "fileinto";
if address :all :is "to" "" { fileinto "empty-to"; }
if address :matches :all "to" "*" { fileinto "any-to"; }
if header :contains "to" "undisclosed" { fileinto "undisclosed"; }
if address :domain :is "from" "spam.example" { fileinto "spam-domain"; }
