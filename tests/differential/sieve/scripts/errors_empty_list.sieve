# messages: plain.eml
if exists [] { keep; }
