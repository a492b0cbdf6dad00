require ["vacation"];
vacation "I am not here.";
