require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto"];
# The per-user default the issue asks for: spam to Junk, as a before script.
if spamtest :value "ge" :comparator "i;ascii-numeric" "8" { fileinto "Junk"; stop; }
