require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto :create "Created/Sub"; }
if header :contains "subject" "hello" { fileinto :create "Hello"; }
