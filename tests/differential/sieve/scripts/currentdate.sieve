# messages: plain.eml
# "now" differs between the two runs by milliseconds: only tests that hold for years.
require ["date", "relational", "fileinto"];
if currentdate :value "ge" "year" "2026" { fileinto "after-2025"; }
if currentdate :zone "+0000" :value "ge" "date" "2026-01-01" { fileinto "date-ge"; }
if currentdate :zone "+0000" :matches "iso8601" "????-??-??T??:??:??Z" { fileinto "iso-shape"; }
if currentdate :zone "-0800" :matches "zone" "-0800" { fileinto "zone"; }
if currentdate :matches "weekday" "[0-6]" { fileinto "weekday-literal-brackets"; }
