require ["vacation"];
vacation :days 0 :addresses "bob@example.net" :subject "zero" "zero days";
