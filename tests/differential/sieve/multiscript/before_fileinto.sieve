require "fileinto";
fileinto "before";
