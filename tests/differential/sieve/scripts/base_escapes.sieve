# RFC 5228 2.4.2 / 2.7.1: quoting, escaped wildcards, multi-line strings, comments
require "fileinto"; /* bracket
   comment */
if header :matches "subject" "*\\?*" { fileinto "question"; }  # hash comment
if header :matches "subject" "Hello there, meeting at ??" { fileinto "two-chars"; }
if header :matches "subject" "\\[dev\\]*" { fileinto "escaped-bracket"; }
if header :is "subject" text:
Re: Hello there
.
{ fileinto "multiline"; }
if header :contains "subject" "\"" { fileinto "quote"; }
