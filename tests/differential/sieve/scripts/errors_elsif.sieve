# messages: plain.eml
keep;
elsif true { keep; }
