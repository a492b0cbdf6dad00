# messages: plain.eml
require "vacation";
vacation :addresses "bob@example.net" "a";
vacation :addresses "bob@example.net" "b";
