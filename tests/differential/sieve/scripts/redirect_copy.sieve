require ["copy", "fileinto"];
redirect :copy "backup@example.net";
if header :contains "subject" "hello" { redirect "bob@example.org"; }
if header :contains "subject" "release" { fileinto :copy "Releases"; }
redirect :copy "backup@example.net";
