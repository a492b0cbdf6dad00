// FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
// CHANGEDSINCE).
//
// Where each item comes from, cheapest first:
//  - UID, FLAGS, MODSEQ: the session's view (no store call at all; a
//    FETCH 1:* (FLAGS) of 100,000 messages is rendering only);
//  - INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, EMAILID,
//    SAVEDATE, PREVIEW, HEADER / HEADER.FIELDS: the message record (only the
//    columns the items need; the parsed MIME tree and the header section are
//    stored at delivery, so none of these reads the body);
//  - BODY[...] of parts, BODY[TEXT], BINARY: body bytes, read in bulk for a
//    group of messages (one store call per group up to kPrefetchBytes) and by
//    byte range when only a part is asked for.
// Records and bodies are read on the database threads in chunks of at most
// about kChunkBytes of responses, up to kChunksInFlight at once, written in
// order while the next ones are read, so memory stays bounded whatever the
// mailbox size. Bodies go out as views into the store's answer (one gathering
// write, commands/output.h); a whole body over kStreamBytes is sent in pieces.
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/log/printable.h"
#include "common/mailstore/delivery_key.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/mail_store.h"
#include "common/mime/mime.h"
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/sequence_set.h"
#include "services/imap-access/protocol/structure.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace postline::imap {

namespace {

// Content-Transfer-Encodings that leave the bytes as they are (RFC 2045 6.2).
bool identity_encoding(std::string_view e) { return e.empty() || e == "7bit" || e == "8bit" || e == "binary"; }


constexpr size_t kRecordBatch = 256;         // messages per store hop when bodies are read
constexpr size_t kMetadataBatch = 2000;      // messages per store hop for records only
constexpr size_t kChunkBytes = 2u << 20;     // responses rendered per hop before they are written
constexpr size_t kPrefetchBytes = 2u << 20;  // body bytes asked for in one bulk read
constexpr size_t kChunksInFlight = 3;        // store hops under way at once for one FETCH
constexpr uint64_t kStreamBytes = 4u << 20;  // a whole body larger than this goes out in pieces
constexpr uint64_t kStreamPiece = 1u << 20;  // ... of this size, one store read each
constexpr size_t kViewChunkBytes = 1u << 20; // view-only responses written at a time

using mailstore::MessageData;

// Body bytes of a group of messages, read in bulk before the group is rendered:
// views into the store's result sets, which this keeps alive.
struct Prefetched {
  std::vector<mailstore::BodySet> sets;
  struct Body {
    std::string_view bytes;
    std::shared_ptr<const void> owner;  // the store's result they live in
  };
  std::unordered_map<std::string, Body> full;  // blob key -> whole body
  std::map<std::tuple<std::string, uint64_t, uint64_t>, std::string_view> ranges;  // (key, begin, length)
};

// What rendering a message will read, found by a dry run of the renderer.
struct Wants {
  std::vector<std::string> full;  // blob keys
  std::vector<mailstore::BodyRange> ranges;
  uint64_t bytes = 0;  // an upper bound of what they return
};

// Reads what the items need for one message and renders its FETCH response.
// Runs on a database thread. In collect mode it reads nothing: it records the
// bodies and ranges it would read (so a group can be fetched in one call) and
// answers empty bytes; then render mode finds them in the Prefetched set. What
// is not there (a blob that vanished) is read one at a time.
class MessageRenderer {
 public:
  MessageRenderer(mailstore::MailStore& store, int64_t user, int64_t mailbox, const MessageData& rec)
      : store_(store), user_(user), mailbox_(mailbox), rec_(rec) {}

  void collect(Wants* wants) { wants_ = wants; }
  void render(const Prefetched* pre) {
    wants_ = nullptr;
    pre_ = pre;
  }
  const MessageData& record() const { return rec_; }
  // What keeps full()'s bytes alive (after full() was called).
  const std::shared_ptr<const void>& full_owner() const { return full_owner_; }

  const mime::ParsedMessage& parsed() {
    if (parsed_) return *parsed_;
    if (rec_.structure) parsed_ = mime::deserialize_structure(*rec_.structure);
    if (parsed_) return *parsed_;
    if (wants_) {  // rows from before the parser: they need the whole body
      full();
      static const mime::ParsedMessage kEmpty = mime::parse("");
      return kEmpty;
    }
    parsed_ = mime::parse(full());  // rows from before the parser, or a corrupt tree
    return *parsed_;
  }

  std::string_view full() {
    if (full_) return *full_;
    if (pre_) {
      auto it = pre_->full.find(blob());
      if (it != pre_->full.end()) {
        full_owner_ = it->second.owner;
        return *(full_ = it->second.bytes);
      }
    }
    if (wants_) {
      if (!wants_full_) {
        wants_full_ = true;
        wants_->full.push_back(blob());
        wants_->bytes += static_cast<uint64_t>(std::max<int64_t>(rec_.size, 0));
      }
      return {};
    }
    own_ = store_.read_bodies(user_, {blob()});
    full_owner_ = own_.owner();
    return *(full_ = own_[0].value_or(std::string_view()));
  }

  std::string range(uint64_t begin, uint64_t length) {
    if (!full_ && pre_) {  // the whole body may be there already (never read it just for a range)
      auto it = pre_->full.find(blob());
      if (it != pre_->full.end()) {
        full_ = it->second.bytes;
        full_owner_ = it->second.owner;
      }
    }
    if (full_) {
      std::string_view f = *full_;
      return std::string(f.substr(std::min<uint64_t>(begin, f.size()), length));
    }
    if (wants_) {
      if (!wants_full_) {
        wants_->ranges.push_back({blob(), begin, length});
        const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(rec_.size, 0));
        wants_->bytes += begin >= size ? 0 : std::min(length, size - begin);
      }
      return {};
    }
    if (pre_) {
      auto it = pre_->ranges.find({blob(), begin, length});
      if (it != pre_->ranges.end()) return std::string(it->second);
    }
    auto one = store_.read_ranges(user_, {mailstore::BodyRange{blob(), begin, length}});
    return std::string(one[0].value_or(std::string_view()));
  }

  // The header section of the message: cached in the record when small.
  std::string header() {
    if (rec_.header) return std::string(*rec_.header);
    return range(0, static_cast<uint64_t>(rec_.header_size));
  }

  // BODY[section] bytes before <partial> is applied; nullopt for a bad spec.
  // `sec` is the spec parsed once per command (nullopt: it did not parse).
  std::optional<std::string> section(const std::string& spec, const std::optional<mime::Section>& sec) {
    if (spec.empty()) return std::string(full());
    if (!sec) return std::nullopt;
    const bool header_text = sec->text == mime::SectionText::kHeader ||
                             sec->text == mime::SectionText::kHeaderFields ||
                             sec->text == mime::SectionText::kHeaderFieldsNot;
    const bool fields = sec->text == mime::SectionText::kHeaderFields ||
                        sec->text == mime::SectionText::kHeaderFieldsNot;
    if (sec->path.empty() && header_text && rec_.header) {
      // The message's own header, cached in the record: filtered straight from it.
      if (fields)
        return mime::filter_header_fields(*rec_.header, sec->fields, sec->text == mime::SectionText::kHeaderFieldsNot);
      return std::string(*rec_.header);
    }
    std::string bytes;
    if (sec->path.empty() && header_text) {
      bytes = header();  // an uncached (huge) header: from the body
    } else if (sec->path.empty() && sec->text == mime::SectionText::kText) {
      const auto hs = static_cast<uint64_t>(rec_.header_size), size = static_cast<uint64_t>(rec_.size);
      bytes = range(hs, size > hs ? size - hs : 0);
    } else {
      auto r = mime::locate(parsed(), *sec);
      if (!r) return std::string();
      bytes = range(r->begin, r->size());
    }
    if (fields) return mime::filter_header_fields(bytes, sec->fields, sec->text == mime::SectionText::kHeaderFieldsNot);
    return bytes;
  }

  // A BINARY section's part numbers; nullopt when the spec is not one.
  static std::optional<std::vector<uint32_t>> binary_path(const std::string& spec) {
    std::vector<uint32_t> path;
    size_t start = 0;
    while (start < spec.size()) {
      size_t dot = spec.find('.', start);
      if (dot == std::string::npos) dot = spec.size();
      auto part = spec.substr(start, dot - start);
      if (part.empty() || part.size() > 9) return std::nullopt;
      path.push_back(static_cast<uint32_t>(std::stoul(part)));
      if (path.back() == 0) return std::nullopt;
      start = dot + 1;
    }
    return path;
  }

  // False when BINARY[spec] would have to undo a Content-Transfer-Encoding we
  // do not know (x-uuencode, a typo): RFC 3516 4.3 wants NO [UNKNOWN-CTE]
  // then, not the encoded bytes passed off as decoded. From the structure
  // alone, so it is known before anything of the message is sent.
  bool binary_decodable(const std::string& spec) {
    auto path = binary_path(spec);
    if (!path) return true;
    const mime::Part* p = path->empty() ? &parsed().root : mime::find_part(parsed(), *path);
    if (!p || p->is_multipart()) return true;
    return mime::is_known_transfer_encoding(p->encoding);
  }

  std::optional<std::string> binary(const std::string& spec) {
    auto parsed_path = binary_path(spec);
    if (!parsed_path) return std::nullopt;
    const std::vector<uint32_t>& path = *parsed_path;
    if (path.empty()) {
      // BINARY[] is the whole message (RFC 3516 4.2): as stored, unless it is one
      // encoded part, whose body is decoded under a header that says so.
      const mime::Part& root = parsed().root;
      std::string_view f = full();
      if (root.is_multipart() || identity_encoding(root.encoding)) return std::string(f);
      const auto body_start = std::min<uint64_t>(root.body_start, f.size());
      std::string out = mime::header_with_binary_encoding(f.substr(0, body_start));
      out += mime::decode_transfer(f.substr(body_start), root.encoding);
      return out;
    }
    const mime::Part* p = mime::find_part(parsed(), path);
    if (!p) return std::string();
    return mime::decode_transfer(range(p->body_start, p->size()), p->encoding);
  }

 private:
  // The body's key: in the record, or looked up when the items did not need
  // it (a header too large for the cache, read from the body after all).
  const std::string& blob() {
    if (!rec_.blob.empty() || blob_looked_up_) return rec_.blob.empty() ? looked_up_blob_ : rec_.blob;
    blob_looked_up_ = true;
    auto recs = store_.read_messages(user_, mailbox_, {rec_.uid}, mailstore::kFieldBlob);
    if (!recs.empty()) looked_up_blob_ = recs[0].blob;
    return looked_up_blob_;
  }

  mailstore::MailStore& store_;
  int64_t user_;
  int64_t mailbox_;
  const MessageData& rec_;
  bool blob_looked_up_ = false;
  std::string looked_up_blob_;
  Wants* wants_ = nullptr;
  const Prefetched* pre_ = nullptr;
  bool wants_full_ = false;
  std::optional<mime::ParsedMessage> parsed_;
  std::optional<std::string_view> full_;  // into pre_ or own_
  std::shared_ptr<const void> full_owner_;  // keeps full_'s bytes alive
  mailstore::BodySet own_;
};

std::string apply_partial(std::string bytes, const FetchItem& it) {
  if (!it.origin) return bytes;
  uint64_t begin = std::min<uint64_t>(*it.origin, bytes.size());
  uint64_t len = it.length ? *it.length : bytes.size();
  return bytes.substr(begin, len);
}

// One message to answer: its number, UID, and (when FLAGS is asked for or
// \Seen was just set) its flags as the view has them, rendered on the I/O thread.
struct Job {
  uint32_t msn;
  uint32_t uid;
  int64_t modseq;
  std::string flags;  // "(\Seen ...)" or empty when not wanted
};

// What the items ask for, decided once per command.
struct Wanted {
  std::vector<FetchItem> items;
  std::vector<std::optional<mime::Section>> sections;  // items[i]'s BODY[section], parsed once
  bool uid = false, flags = false, modseq = false;
  bool rev2 = false;  // ENABLE IMAP4rev2: message/global renders as body-type-msg
  unsigned fields = 0;  // mailstore::MessageField bits to read from the record
  bool bodies = false;  // some item reads body bytes
  // The item that is a whole body (BODY[], BODY.PEEK[], RFC822 without a
  // partial) when it is the only item reading body bytes: for a message larger
  // than kStreamBytes it is sent in pieces, never held in memory whole.
  std::optional<size_t> stream_item;
};

unsigned fields_for(const FetchItem& it) {
  using namespace mailstore;
  switch (it.kind) {
    case FetchItem::kInternalDate: return kFieldInternalDate;
    case FetchItem::kSize: return kFieldSize;
    case FetchItem::kEnvelope: case FetchItem::kBody: case FetchItem::kBodyStructure: return kFieldStructure;
    case FetchItem::kEmailId: return kFieldEmailId;
    // THREADID is derived from the header's Message-ID/References/In-Reply-To.
    case FetchItem::kThreadId: return kFieldHeader | kFieldSize | kFieldBlob;
    case FetchItem::kSaveDate: return kFieldSaveDate;
    case FetchItem::kPreview: return kFieldPreview;
    case FetchItem::kSection: {
      if (it.section.empty()) return kFieldBlob | kFieldSize;
      auto sec = mime::parse_section(it.section);
      if (sec && sec->path.empty() && sec->text != mime::SectionText::kText && sec->text != mime::SectionText::kMime &&
          sec->text != mime::SectionText::kNone)
        return kFieldHeader | kFieldSize;  // the body's key is looked up for an uncached (huge) header only
      if (sec && sec->path.empty() && sec->text == mime::SectionText::kText) return kFieldSize | kFieldBlob;
      return kFieldStructure | kFieldSize | kFieldBlob;
    }
    case FetchItem::kBinary: case FetchItem::kBinarySize: return kFieldStructure | kFieldSize | kFieldBlob;
    default: return 0;
  }
}

// The message's own header (HEADER, HEADER.FIELDS[.NOT] without a part).
bool from_header_spec(const std::optional<mime::Section>& sec) {
  return sec && sec->path.empty() &&
         (sec->text == mime::SectionText::kHeader || sec->text == mime::SectionText::kHeaderFields ||
          sec->text == mime::SectionText::kHeaderFieldsNot);
}

// The message's own header (cached in the record) needs no body bytes.
bool from_cached_header(const std::optional<mime::Section>& sec, const MessageData& rec) {
  return sec && sec->path.empty() && rec.header &&
         (sec->text == mime::SectionText::kHeader || sec->text == mime::SectionText::kHeaderFields ||
          sec->text == mime::SectionText::kHeaderFieldsNot);
}

// The dry run: every item that reads body bytes, with the output thrown away.
void collect(MessageRenderer& m, const Wanted& w) {
  const auto& rec = m.record();
  for (size_t i = 0; i < w.items.size(); ++i) {
    const FetchItem& it = w.items[i];
    if (it.kind == FetchItem::kSection && from_cached_header(w.sections[i], rec)) continue;
    if (it.kind == FetchItem::kSection) {
      if (it.section.empty() && it.origin) {
        uint64_t len = it.length ? *it.length : static_cast<uint64_t>(rec.size);
        if (*it.origin < static_cast<uint64_t>(rec.size)) m.range(*it.origin, len);
      } else if (it.section.empty()) {
        m.full();
      } else {
        m.section(it.section, w.sections[i]);
      }
    } else if (it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize) {
      m.binary(it.section);
    }
  }
}

bool binary_decodable(MessageRenderer& m, const Wanted& w) {
  for (const FetchItem& it : w.items)
    if ((it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize) && !m.binary_decodable(it.section))
      return false;
  return true;
}

void open_response(std::string& out, const Job& job, const Wanted& w, bool& first) {
  out += "* ";
  out += std::to_string(job.msn);
  out += " FETCH (";
  first = true;
  auto sep = [&] {
    if (!first) out += ' ';
    first = false;
  };
  if (w.uid) {
    sep();
    out += "UID ";
    out += std::to_string(job.uid);
  }
  if (!job.flags.empty()) {
    sep();
    out += "FLAGS ";
    out += job.flags;
  }
  if (w.modseq) {
    sep();
    out += "MODSEQ (";
    out += std::to_string(job.modseq);
    out += ')';
  }
}

// Appends "* n FETCH (...)\r\n" for one message. With `streamed` (a body of
// `streamed_size` bytes sent in pieces by the caller) that item comes last,
// as its name and literal length only: the caller sends the bytes and ")\r\n".
void render(Output& output, const Job& job, MessageRenderer* m, const Wanted& w,
            std::optional<size_t> streamed = std::nullopt, uint64_t streamed_size = 0) {
  std::string& out = output.text();  // stays the same string when a view is appended
  bool first = true;
  open_response(out, job, w, first);
  auto item = [&]() -> std::string& {
    if (!first) out += ' ';
    first = false;
    return out;
  };
  for (size_t i = 0; i < w.items.size(); ++i) {
    const FetchItem& it = w.items[i];
    if (!m) break;  // view-only items
    if (streamed && i == *streamed) continue;
    const auto& rec = m->record();
    switch (it.kind) {
      case FetchItem::kUid: case FetchItem::kFlags: case FetchItem::kModseq: break;
      case FetchItem::kInternalDate: item() += "INTERNALDATE \"" + imap_datetime(rec.internaldate) + "\""; break;
      case FetchItem::kSize:
        item() += "RFC822.SIZE ";
        out += std::to_string(rec.size);
        break;
      case FetchItem::kEnvelope: item() += "ENVELOPE " + envelope_text(m->parsed()); break;
      case FetchItem::kBody: item() += "BODY " + bodystructure_text(m->parsed(), false, w.rev2); break;
      case FetchItem::kBodyStructure: item() += "BODYSTRUCTURE " + bodystructure_text(m->parsed(), true, w.rev2); break;
      case FetchItem::kSection: {
        item() += it.name;
        if (it.origin) {
          out += '<';
          out += std::to_string(*it.origin);
          out += '>';
        }
        out += ' ';
        if (it.section.empty() && it.origin) {
          // BODY[]<o.n>: read only the range asked for.
          uint64_t len = it.length ? *it.length : static_cast<uint64_t>(rec.size);
          append_literal(out, *it.origin >= static_cast<uint64_t>(rec.size) ? "" : m->range(*it.origin, len));
        } else if (it.section.empty()) {
          // The whole message: a view into the store's answer, copied once, by the socket write.
          std::string_view body = m->full();
          append_literal(output, body, m->full_owner());
        } else if (!it.origin && from_cached_header(w.sections[i], rec)) {
          // The message's own header from the record: HEADER as it is, HEADER.FIELDS
          // filtered into a buffer this thread reuses (no string per message).
          const mime::Section& sec = *w.sections[i];
          if (sec.text == mime::SectionText::kHeader) {
            append_literal(out, *rec.header);
          } else {
            thread_local std::string filtered;
            filtered.clear();
            mime::append_header_fields(filtered, *rec.header, sec.fields,
                                       sec.text == mime::SectionText::kHeaderFieldsNot);
            append_literal(out, filtered);
          }
        } else {
          auto s = m->section(it.section, w.sections[i]);
          append_literal(out, s ? apply_partial(std::move(*s), it) : "");
        }
        break;
      }
      case FetchItem::kBinary: {
        auto b = m->binary(it.section);
        std::string bytes = b ? apply_partial(std::move(*b), it) : "";
        item() += it.name;
        if (it.origin) out += "<" + std::to_string(*it.origin) + ">";
        out += ' ';
        // literal8 (~{n}) when the decoded data holds NUL (RFC 3516 4.2).
        append_literal(out, bytes, bytes.find('\0') != std::string::npos);
        break;
      }
      case FetchItem::kBinarySize: {
        auto b = m->binary(it.section);
        item() += it.name + " " + std::to_string(b ? b->size() : 0);
        break;
      }
      case FetchItem::kEmailId:
        item() += "EMAILID (";
        out += rec.email_id;
        out += ')';
        break;
      case FetchItem::kThreadId: {
        // RFC 8474 5.2; NIL when the message names no thread (no Message-ID,
        // References or In-Reply-To), as the RFC allows.
        const auto id = mailstore::thread_id_of(mailstore::sort_keys_of(m->header()));
        item() += id ? "THREADID (" + *id + ")" : std::string("THREADID NIL");
        break;
      }
      case FetchItem::kSaveDate: item() += "SAVEDATE \"" + imap_datetime(rec.savedate) + "\""; break;
      case FetchItem::kPreview: item() += "PREVIEW " + nstring(rec.preview); break;
    }
  }
  if (streamed) {
    item() += w.items[*streamed].name;
    out += " {" + std::to_string(streamed_size) + "}\r\n";
    return;
  }
  out += ")\r\n";
}

// Reads a group's bodies and ranges: one call each (duplicates asked once).
Prefetched prefetch(mailstore::MailStore& store, int64_t user, const Wants& w) {
  Prefetched pre;
  if (!w.full.empty()) {
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const auto& k : w.full)
      if (seen.insert(k).second) keys.push_back(k);
    auto got = store.read_bodies(user, keys);
    for (size_t i = 0; i < keys.size(); ++i)
      if (got[i]) pre.full.emplace(keys[i], Prefetched::Body{*got[i], got.owner()});
    pre.sets.push_back(std::move(got));
  }
  std::vector<mailstore::BodyRange> ranges;
  std::set<std::tuple<std::string, uint64_t, uint64_t>> seen;
  for (const auto& r : w.ranges)
    if (!pre.full.count(r.blob) && seen.insert({r.blob, r.offset, r.length}).second) ranges.push_back(r);
  if (!ranges.empty()) {
    auto got = store.read_ranges(user, ranges);
    for (size_t i = 0; i < ranges.size(); ++i)
      if (got[i]) pre.ranges.emplace(std::make_tuple(ranges[i].blob, ranges[i].offset, ranges[i].length), *got[i]);
    pre.sets.push_back(std::move(got));
  }
  return pre;
}

struct Chunk {
  Output out;
  size_t consumed = 0;  // jobs done (rendered, or expunged meanwhile)
  // The chunk ends with the literal length of a body the caller streams.
  struct Stream {
    std::string blob;
    uint64_t size = 0;
  };
  std::optional<Stream> stream;
  // A message was left out: BINARY of an encoding we cannot decode (RFC 3516 4.3).
  bool unknown_cte = false;
};

// One store hop: renders jobs in order until kChunkBytes of output.
Chunk render_chunk(mailstore::MailStore& store, int64_t user_id, int64_t mailbox_id, const std::vector<Job>& jobs,
                   const Wanted& w) {
  std::vector<uint32_t> uids;
  uids.reserve(jobs.size());
  for (const auto& j : jobs) uids.push_back(j.uid);
  const unsigned fields = w.fields;  // fields_for() added what each item reads
  auto records = store.read_messages(user_id, mailbox_id, uids, fields);

  // Pair jobs with their records; a job without one was expunged meanwhile.
  std::vector<const MessageData*> rec_of(jobs.size(), nullptr);
  for (size_t i = 0, r = 0; i < jobs.size(); ++i) {
    while (r < records.size() && records[r].uid < jobs[i].uid) ++r;
    if (r == records.size() || records[r].uid != jobs[i].uid) continue;
    rec_of[i] = &records[r];
  }

  Chunk chunk;
  // One text buffer for the chunk, not a growing string that reallocates and
  // copies as bodies are appended (large bodies are views, not text).
  if (w.bodies) {
    uint64_t expected = 0;
    for (const auto* r : rec_of)
      if (r) expected += (static_cast<uint64_t>(r->size) < Output::kMinView ? static_cast<uint64_t>(r->size) : 0) + 128;
    chunk.out.reserve_text(std::min<uint64_t>(expected, kChunkBytes + kPrefetchBytes + (64u << 10)));
  }
  size_t i = 0;
  if (!w.bodies) {
    // Nothing to prefetch: each message rendered from its record, one renderer
    // on the stack at a time (a container of renderers cost a heap node each,
    // 13 % of FETCH (HEADER.FIELDS) time in a profile).
    for (; i < jobs.size() && chunk.out.size() < kChunkBytes; ++i) {
      if (!rec_of[i]) continue;
      MessageRenderer m(store, user_id, mailbox_id, *rec_of[i]);
      m.render(nullptr);
      render(chunk.out, jobs[i], &m, w);
    }
    chunk.consumed = i;
    return chunk;
  }
  while (i < jobs.size() && chunk.out.size() < kChunkBytes) {
    // A group: consecutive messages whose body reads fit kPrefetchBytes (at least one).
    std::deque<MessageRenderer> group;
    std::vector<size_t> group_jobs;
    Wants wants;
    size_t j = i;
    for (; j < jobs.size(); ++j) {
      if (!rec_of[j]) continue;
      if (w.stream_item && static_cast<uint64_t>(rec_of[j]->size) > kStreamBytes) {
        if (!group.empty()) break;  // the group before it first
        // Alone, and last in this chunk: everything but the body now.
        const MessageData& rec = *rec_of[j];
        MessageRenderer m(store, user_id, mailbox_id, rec);
        render(chunk.out, jobs[j], &m, w, w.stream_item, static_cast<uint64_t>(rec.size));
        chunk.stream = Chunk::Stream{rec.blob, static_cast<uint64_t>(rec.size)};
        chunk.consumed = j + 1;
        return chunk;
      }
      MessageRenderer m(store, user_id, mailbox_id, *rec_of[j]);
      Wants mine;
      m.collect(&mine);
      if (!binary_decodable(m, w)) {
        chunk.unknown_cte = true;  // no response for this message; the FETCH ends NO [UNKNOWN-CTE]
        continue;
      }
      collect(m, w);
      if (!group.empty() && wants.bytes + mine.bytes > kPrefetchBytes) break;
      group.push_back(std::move(m));
      group_jobs.push_back(j);
      wants.bytes += mine.bytes;
      for (auto& k : mine.full) wants.full.push_back(std::move(k));
      for (auto& r : mine.ranges) wants.ranges.push_back(std::move(r));
    }
    Prefetched pre = prefetch(store, user_id, wants);
    for (size_t g = 0; g < group.size(); ++g) {
      auto& m = group[g];
      m.render(&pre);
      render(chunk.out, jobs[group_jobs[g]], &m, w);
    }
    i = j;
  }
  chunk.consumed = i;
  return chunk;
}

// A chunk being rendered on the database threads while the previous one is
// written. Everything runs on the connection's one I/O thread: no locking.
struct PendingChunk {
  explicit PendingChunk(const asio::any_io_executor& ex) : wake(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
  bool done = false;
  std::exception_ptr error;
  Chunk chunk;

  asio::awaitable<Chunk> take() {
    while (!done) {
      boost::system::error_code ec;
      co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (error) std::rethrow_exception(error);
    co_return std::move(chunk);
  }
};

}  // namespace

asio::awaitable<Result> cmd_fetch(Context& ctx) {
  // The whole command is parsed, and message numbers checked against the
  // view, before anything changes (CONDSTORE, \Seen): a BAD changes nothing.
  // The parser refuses VANISHED outside UID FETCH or without CHANGEDSINCE.
  FetchArgs args = parse_fetch_args(ctx.args, ctx.uid);
  if (args.request.vanished && !ctx.session.qresync)
    co_return Result::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
  auto& sel = *ctx.session.selected;
  if (auto bad = check_message_numbers(sel, args.set, ctx.uid)) co_return Result::bad(*bad);
  const SequenceSet* set = &args.set;
  FetchRequest& req = args.request;

  Wanted wanted;
  wanted.items = req.items;
  bool header_only = true;  // every body item is the message's own header (cached in the record)
  for (const auto& it : req.items) {
    wanted.sections.push_back(it.kind == FetchItem::kSection && !it.section.empty() ? mime::parse_section(it.section)
                                                                                      : std::nullopt);
    const auto& sec = wanted.sections.back();
    if ((it.kind == FetchItem::kSection && !(sec && sec->path.empty() &&
                                             (sec->text == mime::SectionText::kHeader ||
                                              sec->text == mime::SectionText::kHeaderFields ||
                                              sec->text == mime::SectionText::kHeaderFieldsNot))) ||
        it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize)
      header_only = false;
  }
  wanted.uid = ctx.uid;
  wanted.rev2 = ctx.session.rev2;
  wanted.modseq = req.changed_since.has_value();
  bool sets_seen = false;
  for (const auto& it : req.items) {
    if (it.kind == FetchItem::kUid) wanted.uid = true;
    if (it.kind == FetchItem::kFlags) wanted.flags = true;
    if (it.kind == FetchItem::kModseq) wanted.modseq = true;
    if (it.kind == FetchItem::kSection || it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize)
      wanted.bodies = true;
    if ((it.kind == FetchItem::kSection || it.kind == FetchItem::kBinary) && !it.peek) sets_seen = true;
    wanted.fields |= fields_for(it);
  }
  // RFC 7162 3.1: CHANGEDSINCE or the MODSEQ item enables CONDSTORE, with the
  // HIGHESTMODSEQ the client has not heard yet.
  if (wanted.modseq) enable_condstore(ctx);
  if (sel.read_only) sets_seen = false;

  std::vector<Selected> selected;
  if (auto bad = select_messages(sel, *set, ctx.uid, selected)) co_return Result::bad(*bad);
  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;

  // Reading a body without PEEK sets \Seen (RFC 9051 6.4.5) before we answer,
  // and the new FLAGS go out with the data.
  std::set<uint32_t> seen_changed;
  if (sets_seen && !selected.empty()) {
    std::vector<uint32_t> need;
    for (const auto& s : selected)
      if (!(sel.system_flags_at(s.msn) & mailstore::kSeen)) need.push_back(s.uid);
    if (!need.empty()) {
      auto op = [=](mailstore::MailStore& st) {
        return st.store_flags(user_id, mailbox_id, need, mailstore::FlagMode::kAdd, mailstore::Flags{mailstore::kSeen, {}});
      };
      auto update = co_await ctx.store(std::move(op));
      for (auto& m : update.changed) {
        sel.set_flags(m.uid, m.flags, m.modseq);
        seen_changed.insert(m.uid);
      }
    }
  }

  if (req.vanished) {
    // RFC 7162 3.2.6: expunged UIDs in the set since CHANGEDSINCE, before the FETCHes.
    const int64_t since = *req.changed_since;
    auto query = [=](mailstore::MailStore& st) { return st.expunged_since(user_id, mailbox_id, since); };
    std::vector<uint32_t> gone = co_await ctx.store(std::move(query));
    std::vector<uint32_t> vanished;
    for (uint32_t uid : gone)
      if (set->contains(uid, sel.max_uid())) vanished.push_back(uid);
    if (!vanished.empty()) ctx.send(untagged("VANISHED (EARLIER) " + SequenceSet::format(vanished)));
  }

  // The jobs, with what the view knows (flags, MODSEQ); CHANGEDSINCE filters here.
  std::vector<Job> jobs;
  jobs.reserve(selected.size());
  for (const auto& s : selected) {
    const int64_t modseq = sel.modseq_at(s.msn);
    if (req.changed_since && modseq <= *req.changed_since) continue;
    Job job{s.msn, s.uid, modseq, {}};
    if (wanted.flags || seen_changed.count(s.uid)) sel.append_flag_list(job.flags, s.msn);
    jobs.push_back(std::move(job));
  }

  // Which message's body goes out, by its trace id (the queue id in its
  // delivery key): at debug only, as it costs one more query per FETCH
  // command (MailStore::delivery_keys). Never fails the FETCH.
  if (wanted.bodies && !header_only && !jobs.empty() && spdlog::should_log(spdlog::level::debug)) {
    std::vector<uint32_t> uids;
    uids.reserve(jobs.size());
    for (const auto& job : jobs) uids.push_back(job.uid);
    try {
      auto keys_of = [=](mailstore::MailStore& st) { return st.delivery_keys(user_id, mailbox_id, uids); };
      const auto keys = co_await ctx.store(std::move(keys_of));
      for (const auto& [uid, key] : keys)
        if (auto trace = mailstore::queue_id_of_delivery_key(key))
          spdlog::debug("[s:{}] [t:{}] [c:{}] [u:{}] FETCH body of uid {} in \"{}\"", ctx.session.session_id,
                        log::tag_value(*trace, 64), ctx.session.remote_address, log::tag_value(ctx.session.username),
                        uid, log::printable(sel.name));
    } catch (const std::exception& e) {
      spdlog::debug("[s:{}] FETCH: delivery keys not read: {}", ctx.session.session_id, e.what());
    }
  }

  if (wanted.fields == 0 && !wanted.bodies) {
    // Everything is in the view: render here, no store call.
    Output out;
    for (const auto& job : jobs) {
      render(out, job, nullptr, wanted);
      if (out.size() >= kViewChunkBytes) {
        ctx.send(std::move(out.text()));
        out = Output();
        co_await ctx.flush();
      }
    }
    ctx.send(std::move(out.text()));
    co_return Result::ok(ctx.uid ? "UID FETCH completed" : "FETCH completed");
  }

  // Slices of at most kRecordBatch (or kMetadataBatch) messages, each read
  // and rendered on a database thread into at most about kChunkBytes of
  // responses. Up to kChunksInFlight slices are read at once, in parallel with
  // writing the oldest one to the client: while one database thread waits for
  // PostgreSQL another renders, and the socket is written meanwhile. A slice
  // that stopped at the byte limit continues in a chunk of its own, ahead of
  // the rest. Responses go out in order; memory stays bounded by the number
  // of chunks in flight.
  const size_t batch = wanted.bodies && !header_only ? kRecordBatch : kMetadataBatch;
  {
    size_t body_items = 0;
    for (size_t i = 0; i < wanted.items.size(); ++i) {
      const FetchItem& it = wanted.items[i];
      if (it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize ||
          (it.kind == FetchItem::kSection && !from_header_spec(wanted.sections[i])))
        ++body_items;
      if (it.kind == FetchItem::kSection && it.section.empty() && !it.origin) wanted.stream_item = i;
    }
    if (body_items != 1) wanted.stream_item.reset();
  }
  auto executor = co_await asio::this_coro::executor;
  auto shared_jobs = std::make_shared<const std::vector<Job>>(std::move(jobs));
  struct Slice {
    std::shared_ptr<PendingChunk> pending;
    size_t from, to;
  };
  auto start = [&](size_t from, size_t to) {
    auto pending = std::make_shared<PendingChunk>(executor);
    // Shared, not referenced: the database thread must not point into this frame.
    auto work = [=, all = shared_jobs](mailstore::MailStore& st) {
      std::vector<Job> slice(all->begin() + from, all->begin() + to);
      return render_chunk(st, user_id, mailbox_id, slice, wanted);
    };
    auto done = [pending](std::exception_ptr e, Chunk chunk) {
      pending->error = e;
      pending->chunk = std::move(chunk);
      pending->done = true;
      pending->wake.cancel();
    };
    asio::co_spawn(executor, ctx.store(std::move(work)), std::move(done));
    return Slice{pending, from, to};
  };
  const size_t total = shared_jobs->size();
  std::deque<Slice> in_flight;
  size_t next = 0;
  // The first slices are small so the first bytes go out early (the client's
  // reading overlaps the rest); then full slices.
  size_t slice_size = std::min<size_t>(batch, 32);
  auto fill = [&] {
    while (in_flight.size() < kChunksInFlight && next < total) {
      const size_t to = std::min(total, next + slice_size);
      slice_size = std::min(batch, slice_size * 2);
      in_flight.push_back(start(next, to));
      next = to;
    }
  };
  fill();
  bool unknown_cte = false;
  while (!in_flight.empty()) {
    Slice slice = std::move(in_flight.front());
    in_flight.pop_front();
    Chunk chunk = co_await slice.pending->take();
    const size_t done_to = slice.from + std::max<size_t>(chunk.consumed, 1);
    if (done_to < slice.to) in_flight.push_front(start(done_to, slice.to));
    fill();
    unknown_cte = unknown_cte || chunk.unknown_cte;
    ctx.emit(std::move(chunk.out));
    co_await ctx.flush();
    if (chunk.stream) {
      // A large body: piece by piece, each read while nothing else of it is held.
      const auto stream = *chunk.stream;
      for (uint64_t off = 0; off < stream.size; off += kStreamPiece) {
        const uint64_t len = std::min(kStreamPiece, stream.size - off);
        auto read = [=](mailstore::MailStore& st) {
          auto set = st.read_ranges(user_id, {mailstore::BodyRange{stream.blob, off, len}});
          std::string piece(set[0].value_or(std::string_view()));
          return piece;
        };
        std::string piece = co_await ctx.store(std::move(read));
        // The literal's length was announced: a body that vanished meanwhile
        // (never deleted today) is padded rather than breaking the protocol.
        if (piece.size() != len) piece.resize(len, ' ');
        replace_nul(piece.data(), piece.size());  // a {n} literal (append_literal)
        ctx.send(std::move(piece));
        co_await ctx.flush();
      }
      ctx.send(")\r\n");
      if (ctx.services.observer) ctx.services.observer->body_streamed(stream.size);
    }
  }
  // RFC 3516 4.3: the messages that could be answered were; the rest is this NO.
  if (unknown_cte) co_return Result::no("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE");
  co_return Result::ok(ctx.uid ? "UID FETCH completed" : "FETCH completed");
}

std::optional<std::string> read_message_section(mailstore::MailStore& st, int64_t user, int64_t mailbox, uint32_t uid,
                                                const std::string& section, std::optional<uint64_t> offset,
                                                std::optional<uint64_t> length) {
  auto records = st.read_messages(user, mailbox, {uid}, mailstore::kFieldSize | mailstore::kFieldBlob |
                                                            mailstore::kFieldStructure | mailstore::kFieldHeader);
  if (records.empty()) return std::nullopt;
  std::optional<mime::Section> sec;
  if (!section.empty()) {
    sec = mime::parse_section(section);
    if (!sec) return std::nullopt;
  }
  MessageRenderer m(st, user, mailbox, records[0]);
  m.render(nullptr);  // read what it needs itself, now
  auto bytes = m.section(section, sec);
  if (!bytes || !offset) return bytes;
  const uint64_t begin = std::min<uint64_t>(*offset, bytes->size());
  return bytes->substr(begin, length ? *length : bytes->size());
}

}  // namespace postline::imap
