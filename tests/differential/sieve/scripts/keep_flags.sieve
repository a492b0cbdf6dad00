require ["imap4flags"];
if header :contains "subject" "hello" { keep :flags ["\\Seen", "$Label1"]; stop; }
addflag "$Later";
