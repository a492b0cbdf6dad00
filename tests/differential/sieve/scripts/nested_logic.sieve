require "fileinto";
if allof (anyof (header :contains "subject" "hello", header :contains "subject" "release"),
          not anyof (exists "x-spam-flag", header :is "from" "nobody"),
          allof (true, not false)) {
  if exists "list-id" { fileinto "nested-list"; stop; }
  fileinto "nested";
}
if header :contains ["subject", "from"] ["pills", "carol"] { fileinto "multi-key"; }
