require "fileinto";
fileinto "before";
stop;
