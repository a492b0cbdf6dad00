require ["index", "date", "fileinto"];
if header :index 2 :is "x-label" "two" { fileinto "second-two"; }
if header :index 1 :last :is "x-label" "three" { fileinto "last-three"; }
if header :index 2 :is "subject" "duplicate subject line" { fileinto "second-subject"; }
if address :index 2 :is "to" "second-to@example.net" { fileinto "second-to"; }
if header :index 5 :matches "x-label" "*" { fileinto "none-fifth"; }
