# messages: plain.eml
require "comparator-i;ascii-numeric";
if header :is :comparator "i;ascii-numeric" "x-priority" "3" { keep; }
if header :contains :comparator "i;ascii-numeric" "subject" "1" { keep; }
