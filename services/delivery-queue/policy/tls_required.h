// RFC 8689 5: the "TLS-Required: No" header field, by which a sender asks that
// the recipient domain's MTA-STS and DANE policies not stop delivery (TLS is
// still used when offered). Sans-I/O: looks at the message's header block only.
#pragma once

#include <string_view>

namespace postline::queue {

// True when the header block of `message` has a TLS-Required field whose
// value (unfolded, spaces trimmed) is "No", in any case. Reads at most the
// first 256 KiB (a header block larger than that is not looked into further).
bool tls_required_no(std::string_view message);

}  // namespace postline::queue
