require ["variables","fileinto"];
fileinto "v${x}";
