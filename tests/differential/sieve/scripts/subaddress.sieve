require ["fileinto", "subaddress"];
if address :user "cc" "carol" { fileinto "user-carol"; }
if address :detail "cc" "work" { fileinto "detail-work"; }
if address :detail :matches "cc" "*" { fileinto "detail-any"; }
if address :detail "from" "" { fileinto "detail-empty"; }
