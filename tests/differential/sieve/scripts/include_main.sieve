require ["include", "variables", "fileinto"];
global "folder";
set "folder" "from-main";
include :personal "common";
if string :is "${folder}" "from-include" { fileinto "global-ok"; }
include :optional "missing";
include :once "common";
include :personal "stopper";
fileinto "not-reached-after-stop";
