# messages: mime.eml plain.eml
require ["body", "fileinto"];
if header :matches "subject" "Caf? pr?t" { fileinto "one-octet-question"; }
if header :matches "subject" "Caf?? pr??t" { fileinto "two-octet-questions"; }
if body :text :contains "<b>" { fileinto "text-keeps-tags"; }
if body :contains "Le caf" { fileinto "html-as-text"; }
if body :content "text/html" :contains "<b>" { fileinto "content-keeps-tags"; }
