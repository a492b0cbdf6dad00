require ["variables", "fileinto"];
if header :matches "subject" "*e*e*" { fileinto "a/${1}/${2}/${3}"; }
if header :matches "subject" "?*" { fileinto "first/${1}"; }
if header :matches "from" "*" { set :upper "up" "${1}"; }
if string :contains "${up}" "EXAMPLE" { fileinto "upper-ok"; }
if header :matches "subject" "**x**" { fileinto "stars"; }
if header :matches "x-none" "*" { fileinto "missing-matches-star"; }
if header :contains "subject" "" { fileinto "empty-contains"; }
