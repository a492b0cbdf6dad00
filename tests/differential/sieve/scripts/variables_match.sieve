require ["variables", "fileinto"];
if header :matches "from" "*<*@*>" {
  fileinto "from/${3}/${2}";
}
if header :matches "date" "*, ? * *" { fileinto "day/${2}"; }
if header :matches "subject" "*" { set "s" "${0}"; }
if string :contains "${s}" "meeting" { fileinto "meeting"; }
if string :is "${unknown}" "" { fileinto "unknown-empty"; }
