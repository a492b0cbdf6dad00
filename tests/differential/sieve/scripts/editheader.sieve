require ["editheader", "fileinto", "index", "relational", "comparator-i;ascii-numeric"];
addheader "X-Filtered" "yes";
if header :is "x-filtered" "yes" { fileinto "added"; }
deleteheader "x-label";
if not exists "x-label" { fileinto "labels-gone"; }
addheader :last "X-Order" "last";
addheader "X-Order" "first";
if header :index 1 :is "x-order" "first" { fileinto "order-first"; }
deleteheader :index 1 :last "x-order";
if header :count "eq" :comparator "i;ascii-numeric" "x-order" "1" { fileinto "one-order"; }
deleteheader :contains "subject" "hello";
if not exists "subject" { fileinto "subject-gone"; }
deleteheader "received";
if exists "received" { fileinto "received-protected"; }
