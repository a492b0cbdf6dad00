require ["comparator-i;ascii-numeric", "relational", "fileinto"];
if header :is :comparator "i;ascii-numeric" "x-priority" "03" { fileinto "prio3"; }
if header :value "gt" :comparator "i;ascii-numeric" "subject" "100" { fileinto "subject-infinite"; }
if header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "abc" { fileinto "lt-infinity"; }
if header :value "ge" :comparator "i;ascii-casemap" "from" "b" { fileinto "from-ge-b"; }
if header :value "ne" "subject" "x" { fileinto "ne"; }
