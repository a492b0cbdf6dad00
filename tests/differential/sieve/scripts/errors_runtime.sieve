require ["reject", "fileinto"];
fileinto "First";
reject "and then reject";
