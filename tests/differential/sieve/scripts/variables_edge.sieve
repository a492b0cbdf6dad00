# messages: plain.eml multi.eml
require ["variables", "fileinto", "imap4flags"];
set "a" "${b";
if string :is "${a}" "${b" { fileinto :flags "" "unclosed-kept"; }
if header :matches "subject" "*" { fileinto "${10}x${01}"; }
