require "fileinto";
keep;
fileinto "before";
