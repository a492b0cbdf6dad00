require ["imap4flags", "variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
set "myflags" "";
addflag "myflags" "\\Draft";
addflag "myflags" ["$A $B", "$A"];
removeflag "myflags" "$B";
if hasflag :count "eq" :comparator "i;ascii-numeric" "myflags" "2" { fileinto :flags "${myflags}" "two-flags"; }
addflag "\\Seen";
