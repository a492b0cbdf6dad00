require ["body", "fileinto"];
if body :content "multipart" :contains "preamble" { fileinto "prologue"; }
if body :content "multipart" :contains "banana" { fileinto "part-text-in-multipart"; }
if body :content "" :contains "preamble" { fileinto "all-types"; }
if body :content "text" :contains "preamble" { fileinto "text-sees-preamble"; }
