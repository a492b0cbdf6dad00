require ["reject"];
if address :domain :is "from" "spam.example" {
  reject text:
Your message was refused.
..dot-start line
.
;
}
