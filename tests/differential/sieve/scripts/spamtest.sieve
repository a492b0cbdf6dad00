require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; }
elsif spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "untested"; }
elsif spamtest :value "ge" :comparator "i;ascii-numeric" "3" { fileinto "maybe"; }
