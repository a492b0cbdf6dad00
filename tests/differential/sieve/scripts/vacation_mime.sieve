require ["vacation"];
vacation :mime :handle "ooo-2026" :subject "Away (MIME)" :addresses "bob@example.net" text:
Content-Type: text/plain; charset=utf-8

Away until Monday.
.
;
