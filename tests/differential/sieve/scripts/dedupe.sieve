require ["fileinto", "imap4flags"];
redirect "a@example.org";
redirect "A@example.org";
fileinto :flags "\\Seen" "Box";
fileinto :flags "\\Flagged" "Box";
fileinto "INBOX";
keep;
