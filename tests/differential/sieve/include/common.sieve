require ["include", "variables", "fileinto"];
global "folder";
if header :contains "subject" "hello" { fileinto "included-hello"; return; }
set "folder" "from-include";
