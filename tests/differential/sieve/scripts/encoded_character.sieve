require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:48 65}llo" { fileinto "hex"; }
if header :contains "subject" "Caf${unicode:e9}" { fileinto "unicode"; }
if header :contains "subject" "${hex:zz}" { fileinto "bad-hex"; }
