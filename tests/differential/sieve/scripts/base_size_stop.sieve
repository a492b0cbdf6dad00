# RFC 5228: size, stop, keep, discard
if size :over 500 { discard; stop; }
if size :under 300 { keep; stop; }
redirect "archive@example.net";
