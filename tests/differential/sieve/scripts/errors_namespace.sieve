# messages: plain.eml
require "variables";
set "ok" "1";
set "a.b" "x";
