# messages: plain.eml
require "variables";
set "a" "b" "c";
