require ["fileinto"];
if header :bogus "subject" "x" { fileinto "a"; }
