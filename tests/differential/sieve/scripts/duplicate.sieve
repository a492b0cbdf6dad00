require ["duplicate", "fileinto"];
if duplicate { fileinto "dup"; } else { fileinto "first-time"; }
if duplicate :header "x-spam-score" :handle "h" { fileinto "dup2"; }
