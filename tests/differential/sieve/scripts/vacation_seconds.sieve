require ["vacation-seconds"];
vacation :seconds 3600 :subject "brb" :from "bob@example.net" :addresses "bob@example.net" "Back in an hour.";
