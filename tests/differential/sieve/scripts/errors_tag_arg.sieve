# messages: plain.eml
require "vacation";
vacation :days "three" "x";
