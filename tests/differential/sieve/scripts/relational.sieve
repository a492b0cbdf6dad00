require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "spammy"; }
if header :count "ge" :comparator "i;ascii-numeric" "x-label" "3" { fileinto "three-labels"; }
if address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "2" { fileinto "two-rcpts"; }
if header :value "lt" "subject" "M" { fileinto "before-M"; }
if header :count "gt" :comparator "i;ascii-numeric" "received" "0" { fileinto "has-received"; }
