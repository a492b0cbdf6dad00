require ["editheader", "fileinto"];
deleteheader :matches "x-label" "t*";
if header :is "x-label" "one" { fileinto "one-left"; }
if not header :is "x-label" ["two", "three"] { fileinto "t-gone"; }
deleteheader :is "x-priority" "4";
if exists "x-priority" { fileinto "prio-kept"; }
