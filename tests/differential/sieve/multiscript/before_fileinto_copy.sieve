require ["fileinto","copy"];
fileinto :copy "copied";
