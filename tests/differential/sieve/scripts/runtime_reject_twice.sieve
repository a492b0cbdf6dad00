# messages: plain.eml
require "reject";
reject "a";
reject "b";
