require ["envelope", "fileinto", "subaddress"];
if envelope :is "from" "" { fileinto "null-sender"; }
if envelope :domain :is "from" "example.com" { fileinto "env-from-example"; }
if envelope :localpart :matches "to" "bob*" { fileinto "env-to-bob"; }
if envelope :all :is "to" "bob@example.net" { fileinto "env-to-all"; }
if envelope :user "to" "bob" { fileinto "env-user"; }
