require ["fileinto"];
if exists ["list-id", "list-unsubscribe"] { fileinto "Lists"; stop; }
if exists "x-spam-flag" { fileinto "Flagged"; }
if not exists "x-none" { fileinto "NoNone"; }
if header :is "x-label" "two" { fileinto "Label-two"; }
