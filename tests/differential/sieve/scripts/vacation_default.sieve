require ["vacation", "fileinto"];
if header :contains "subject" "hello" { fileinto "Seen"; }
vacation :addresses ["bob@example.net", "team@example.net"] "Away.";
