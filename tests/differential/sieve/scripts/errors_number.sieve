# messages: plain.eml
if size :over 1X { keep; }
