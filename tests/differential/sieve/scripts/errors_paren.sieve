# messages: plain.eml
require ["fileinto"];
if anyof (true, false {
  keep;
}
