if header :contains "precedence" "bulk" { discard; }
if header :contains "subject" "hello" { keep; discard; }
