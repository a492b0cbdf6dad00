require "fileinto";
fileinto "user";
