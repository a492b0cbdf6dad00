require ["imap4flags", "fileinto"];
setflag "\\Seen";
addflag ["\\Flagged", "$Work"];
if header :contains "subject" "hello" { fileinto "Hello"; }
removeflag "\\Seen";
if hasflag :is "$work" { fileinto :flags "\\Answered" "Answered"; }
if hasflag :contains "\\Seen" { fileinto "still-seen"; }
keep;
