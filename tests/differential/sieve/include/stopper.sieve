require ["fileinto"];
if header :contains "subject" "release" { fileinto "stopped"; stop; }
