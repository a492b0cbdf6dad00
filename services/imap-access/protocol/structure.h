// ENVELOPE and BODY/BODYSTRUCTURE text (RFC 3501 7.4.2, RFC 9051 7.5.2) from
// common/mime's part tree. The tree comes from mime::parse at delivery or from
// the stored structure (mime::deserialize_structure) at FETCH time; both give
// the same text. Strings go through encoder.h's append_string.
#pragma once

#include "common/mime/mime.h"

#include <string>

namespace postline::imap {

// "(date subject from sender reply-to to cc bcc in-reply-to message-id)"; a
// message without an envelope gets ten NILs.
std::string envelope_text(const mime::ParsedMessage& msg);
std::string envelope_text(const mime::Envelope& env);
// BODY (extended=false) or BODYSTRUCTURE (extended=true) of the whole message.
std::string bodystructure_text(const mime::ParsedMessage& msg, bool extended, bool rev2 = false);

}  // namespace postline::imap
