# messages: plain.eml
require ["vacation-seconds"];
vacation :days 500 :addresses "bob@example.net" "long";
