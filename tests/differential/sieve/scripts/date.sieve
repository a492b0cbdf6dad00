require ["date", "relational", "fileinto"];
if date :is "date" "year" "2026" { fileinto "y2026"; }
if date :zone "+0000" :is "date" "hour" "16" { fileinto "utc-16"; }
if date :originalzone :is "date" "zone" "+0100" { fileinto "zone-plus1"; }
if date :zone "+0000" :is "date" "date" "2026-12-01" { fileinto "dec-1-utc"; }
if date :zone "+0000" :value "ge" "date" "weekday" "4" { fileinto "late-week"; }
if date :originalzone :is "date" "iso8601" "2026-12-03T17:48:46+01:00" { fileinto "iso"; }
if date :zone "-0500" :is "date" "julian" "61377" { fileinto "julian"; }
if date :originalzone :is "date" "std11" "Thu, 03 Dec 2026 17:48:46 +0100" { fileinto "std11"; }
if date :zone "+0000" :is "received" "time" "16:48:46" { fileinto "received-time"; }
