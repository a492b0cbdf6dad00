# messages: plain.eml
require ["include", "fileinto"];
include :global "nothing-here";
fileinto "after";
