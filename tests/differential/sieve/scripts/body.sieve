require ["body", "fileinto"];
if body :contains "banana" { fileinto "banana"; }
if body :text :contains "meeting" { fileinto "meeting"; }
if body :content "text/html" :contains "HTMLONLY" { fileinto "html"; }
if body :content "text/plain" :contains "HTMLONLY" { fileinto "html-in-plain"; }
if body :raw :contains "caf=C3=A9" { fileinto "raw-qp"; }
if body :content "text" :contains "café" { fileinto "decoded"; }
