require ["variables","fileinto"];
set "x" "1";
