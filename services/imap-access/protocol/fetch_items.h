// FETCH attribute parsing (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ,
// RFC 8474 EMAILID/THREADID, RFC 8514 SAVEDATE). Pure: text in, items out.
#pragma once

#include "services/imap-access/protocol/reader.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postline::imap {

struct FetchItem {
  enum Kind {
    kUid, kFlags, kInternalDate, kSize, kEnvelope, kBody, kBodyStructure,
    kSection,      // BODY[...] / BODY.PEEK[...] / RFC822 / RFC822.HEADER / RFC822.TEXT
    kBinary,       // BINARY[...] / BINARY.PEEK[...]
    kBinarySize,   // BINARY.SIZE[...]
    kModseq, kEmailId, kThreadId, kSaveDate, kPreview,
  };
  Kind kind = kUid;
  std::string section;      // inside the brackets, as given (e.g. "1.HEADER.FIELDS (From)")
  bool peek = false;        // does not set \Seen
  std::string name;         // response item name: "RFC822", "BODY[1.MIME]", "BINARY[2]"...
  std::optional<uint64_t> origin, length;  // <origin.length>
};

struct FetchRequest {
  std::vector<FetchItem> items;
  std::optional<int64_t> changed_since;  // (CHANGEDSINCE n)
  bool vanished = false;                 // (VANISHED), UID FETCH with QRESYNC
};

// Parses: fetch-att / "(" fetch-att *(SP fetch-att) ")" / ALL / FAST / FULL,
// then optional fetch modifiers. Throws SyntaxError.
FetchRequest parse_fetch(Reader& r);

}  // namespace postline::imap
