# messages: plain.eml
if anyof () { keep; }
