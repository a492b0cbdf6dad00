require ["variables", "fileinto"];
set :lowerfirst "a" "HELLO";
set :upperfirst :lower "b" "wORLD";
set "c" "${a}${b}";
if string :is "${c}" "hELLOWorld" { fileinto "mods-ok"; }
set "n" "${hex:41}";
if string :is "${n}" "${hex:41}" { fileinto "no-encoded-char"; }
set "x" "1";
set "x" "${x}${x}";
set "x" "${x}${x}";
if string :is "${x}" "1111" { fileinto "concat-ok"; }
if string :matches " a b " "* ? *" { fileinto "w/${1}/${2}/${3}"; }
