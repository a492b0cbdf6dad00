require "reject";
reject "no";
