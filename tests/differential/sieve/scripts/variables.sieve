require ["variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
if header :matches "subject" "*] *" {
  set "list" "${1}";
  fileinto "lists/${list}";
}
set :lower :upperfirst "who" "ALICE";
if string :is "${who}" "Alice" { fileinto "casefold-ok"; }
set :length "len" "héllo";
if string :is "${len}" "5" { fileinto "length-ok"; }
if address :matches :domain "from" "*.*" { fileinto "dom/${1}/${2}"; }
set "empty" "";
if string :count "eq" :comparator "i;ascii-numeric" ["${empty}", "x"] "1" { fileinto "count-ok"; }
set :quotewildcard "q" "a*b";
if string :matches "a*b" "${q}" { fileinto "quoted"; }
if string :matches "axxb" "${q}" { fileinto "quoted-wrong"; }
