require ["body", "fileinto"];
if body :contains "kiwi" { fileinto "kiwi-anywhere"; }
if body :content "text/plain" :contains "forwarded" { fileinto "outer-plain"; }
if body :content "message/rfc822" :contains "kiwi" { fileinto "rfc822-part"; }
if header :is "subject" "inner subject" { fileinto "inner-subject-leaked"; }
if address :is "resent-from" "relay@example.org" { fileinto "resent"; }
