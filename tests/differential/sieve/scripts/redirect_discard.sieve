require ["copy", "fileinto"];
if header :contains "subject" "release" { redirect "dev-archive@example.net"; discard; }
if header :contains "subject" "pills" { fileinto :copy "Spam-Copy"; discard; }
