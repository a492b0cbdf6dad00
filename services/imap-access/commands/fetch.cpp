// FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
// CHANGEDSINCE). Parsed structures come from the store (common/mime's
// serialized tree), bodies from the BlobStore by byte range, so fetching one
// attachment reads that part only.
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/store.h"
#include "common/mime/mime.h"
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

namespace {

constexpr size_t kBatch = 64;

// Reads what the items need for one message and renders its FETCH response
// (without the "* n FETCH " prefix). Runs on a database thread.
class MessageRenderer {
 public:
  MessageRenderer(pqxx::transaction_base& tx, const mailstore::MessageRecord& rec) : tx_(tx), rec_(rec) {}

  const mime::ParsedMessage& parsed() {
    if (!parsed_) {
      if (rec_.structure) parsed_ = mime::deserialize_structure(*rec_.structure);
      if (!parsed_) parsed_ = mime::parse(full());  // rows from before the parser, or a corrupt tree
    }
    return *parsed_;
  }

  const std::string& full() {
    if (!full_) full_ = mailstore::read_body(tx_, rec_.blob_key).value_or("");
    return *full_;
  }

  std::string range(uint64_t begin, uint64_t length) {
    if (full_) return full_->substr(std::min<uint64_t>(begin, full_->size()), length);
    return mailstore::read_body_range(tx_, rec_.blob_key, begin, length).value_or("");
  }

  // BODY[section] bytes before <partial> is applied; nullopt for a bad spec.
  std::optional<std::string> section(const std::string& spec) {
    if (spec.empty()) return full();
    auto sec = mime::parse_section(spec);
    if (!sec) return std::nullopt;
    auto r = mime::locate(parsed(), *sec);
    if (!r) return std::string();
    std::string bytes = range(r->begin, r->size());
    if (sec->text == mime::SectionText::kHeaderFields || sec->text == mime::SectionText::kHeaderFieldsNot)
      return mime::filter_header_fields(bytes, sec->fields, sec->text == mime::SectionText::kHeaderFieldsNot);
    return bytes;
  }

  std::optional<std::string> binary(const std::string& spec) {
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
    const mime::Part* p = path.empty() ? &parsed().root : mime::find_part(parsed(), path);
    if (!p) return std::string();
    if (path.empty() && !p->is_multipart()) return mime::decode_transfer(full().substr(p->body_start), p->encoding);
    return mime::decode_transfer(range(p->body_start, p->size()), p->encoding);
  }

 private:
  pqxx::transaction_base& tx_;
  const mailstore::MessageRecord& rec_;
  std::optional<mime::ParsedMessage> parsed_;
  std::optional<std::string> full_;
};

std::string apply_partial(std::string bytes, const FetchItem& it) {
  if (!it.origin) return bytes;
  uint64_t begin = std::min<uint64_t>(*it.origin, bytes.size());
  uint64_t len = it.length ? *it.length : bytes.size();
  return bytes.substr(begin, len);
}

struct Job {
  uint32_t msn;
  uint32_t uid;
};

}  // namespace

asio::awaitable<Result> cmd_fetch(Context& ctx) {
  ctx.args.sp();
  auto set = SequenceSet::parse(ctx.args.sequence_set_text());
  if (!set) ctx.args.fail("invalid sequence set");
  ctx.args.sp();
  FetchRequest req = parse_fetch(ctx.args);
  if (req.vanished && !(ctx.uid && ctx.session.qresync && req.changed_since))
    co_return Result::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
  auto& sel = *ctx.session.selected;
  if (req.changed_since) ctx.session.condstore = true;

  bool want_uid = ctx.uid, want_flags = false, want_modseq = req.changed_since.has_value(), sets_seen = false;
  for (const auto& it : req.items) {
    if (it.kind == FetchItem::kUid) want_uid = true;
    if (it.kind == FetchItem::kFlags) want_flags = true;
    if (it.kind == FetchItem::kModseq) want_modseq = true;
    if ((it.kind == FetchItem::kSection || it.kind == FetchItem::kBinary) && !it.peek) sets_seen = true;
  }
  if (sel.read_only) sets_seen = false;

  std::vector<Selected> selected;
  if (auto bad = select_messages(sel, *set, ctx.uid, selected)) co_return Result::bad(*bad);
  std::vector<Job> jobs;
  for (const auto& m : selected) jobs.push_back({m.msn, m.uid});

  const int64_t user_id = ctx.session.user_id, mailbox_id = sel.mailbox_id;

  // Reading a body without PEEK sets \Seen (RFC 9051 6.4.5) before we answer,
  // and the new FLAGS go out with the data.
  std::set<uint32_t> seen_changed;
  if (sets_seen && !jobs.empty()) {
    std::vector<int64_t> need;
    for (const auto& j : jobs) {
      const auto& f = sel.flags_at(j.msn);
      if (std::find(f.begin(), f.end(), "\\Seen") == f.end()) need.push_back(j.uid);
    }
    if (!need.empty()) {
      auto op = [=](pqxx::connection& c) {
        return mailstore::store_flags(c, user_id, mailbox_id, need, mailstore::FlagMode::kAdd, {"\\Seen"});
      };
      auto update = co_await ctx.db(std::move(op));
      for (auto& m : update.changed) {
        sel.set_flags(static_cast<uint32_t>(m.uid), m.flags);
        seen_changed.insert(static_cast<uint32_t>(m.uid));
      }
    }
  }

  if (req.vanished) {
    // RFC 7162 3.2.6: expunged UIDs in the set since CHANGEDSINCE, before the FETCHes.
    const int64_t since = *req.changed_since;
    auto query = [=](pqxx::connection& c) {
      pqxx::read_transaction tx(c);
      return mailstore::expunged_since(tx, user_id, mailbox_id, since);
    };
    std::vector<int64_t> gone = co_await ctx.db(std::move(query));
    std::vector<uint32_t> vanished;
    for (int64_t uid : gone)
      if (set->contains(static_cast<uint32_t>(uid), sel.max_uid())) vanished.push_back(static_cast<uint32_t>(uid));
    if (!vanished.empty()) ctx.send(untagged("VANISHED (EARLIER) " + SequenceSet::format(vanished)));
  }

  for (size_t start = 0; start < jobs.size(); start += kBatch) {
    std::vector<Job> batch(jobs.begin() + start, jobs.begin() + std::min(jobs.size(), start + kBatch));
    std::vector<int64_t> uids;
    for (const auto& j : batch) uids.push_back(j.uid);
    const auto items = req.items;
    const auto changed_since = req.changed_since;
    auto render = [=, &seen_changed](pqxx::connection& c) {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
      auto records = mailstore::fetch_records(tx, user_id, mailbox_id, uids);
      std::string out;
      size_t r = 0;
      for (const auto& job : batch) {
        while (r < records.size() && records[r].uid < job.uid) ++r;
        if (r == records.size() || records[r].uid != job.uid) continue;  // expunged meanwhile
        const auto& rec = records[r];
        if (changed_since && rec.modseq <= *changed_since) continue;
        MessageRenderer m(tx, rec);
        std::vector<std::string> parts;
        if (want_uid) parts.push_back("UID " + std::to_string(rec.uid));
        if (want_flags || seen_changed.count(job.uid)) parts.push_back("FLAGS " + flag_list(rec.flags));
        if (want_modseq) parts.push_back("MODSEQ (" + std::to_string(rec.modseq) + ")");
        for (const auto& it : items) {
          switch (it.kind) {
            case FetchItem::kUid: case FetchItem::kFlags: case FetchItem::kModseq: break;
            case FetchItem::kInternalDate:
              parts.push_back("INTERNALDATE \"" + imap_datetime(rec.internaldate) + "\"");
              break;
            case FetchItem::kSize: parts.push_back("RFC822.SIZE " + std::to_string(rec.size)); break;
            case FetchItem::kEnvelope: parts.push_back("ENVELOPE " + mime::imap_envelope(m.parsed())); break;
            case FetchItem::kBody: parts.push_back("BODY " + mime::imap_bodystructure(m.parsed(), false)); break;
            case FetchItem::kBodyStructure:
              parts.push_back("BODYSTRUCTURE " + mime::imap_bodystructure(m.parsed(), true));
              break;
            case FetchItem::kSection: {
              std::string bytes;
              if (it.section.empty() && it.origin) {
                // BODY[]<o.n>: read only the range asked for.
                uint64_t len = it.length ? *it.length : static_cast<uint64_t>(rec.size);
                bytes = *it.origin >= static_cast<uint64_t>(rec.size) ? "" : m.range(*it.origin, len);
              } else {
                auto s = m.section(it.section);
                bytes = s ? apply_partial(std::move(*s), it) : "";
              }
              std::string name = it.name;
              if (it.origin) name += "<" + std::to_string(*it.origin) + ">";
              parts.push_back(name + " " + literal(bytes));
              break;
            }
            case FetchItem::kBinary: {
              auto b = m.binary(it.section);
              std::string bytes = b ? apply_partial(std::move(*b), it) : "";
              std::string name = it.name;
              if (it.origin) name += "<" + std::to_string(*it.origin) + ">";
              // literal8 (~{n}) when the decoded data holds NUL (RFC 3516 4.2).
              bool nul = bytes.find('\0') != std::string::npos;
              parts.push_back(name + " " + (nul ? "~" : "") + literal(bytes));
              break;
            }
            case FetchItem::kBinarySize: {
              auto b = m.binary(it.section);
              parts.push_back(it.name + " " + std::to_string(b ? b->size() : 0));
              break;
            }
            case FetchItem::kEmailId: parts.push_back("EMAILID (" + rec.email_id + ")"); break;
            case FetchItem::kThreadId: parts.push_back("THREADID NIL"); break;
            case FetchItem::kSaveDate:
              parts.push_back("SAVEDATE \"" + imap_datetime(rec.savedate) + "\"");
              break;
            case FetchItem::kPreview: parts.push_back("PREVIEW " + nstring(rec.preview)); break;
          }
        }
        std::string line = "* " + std::to_string(job.msn) + " FETCH (";
        for (size_t i = 0; i < parts.size(); ++i) {
          if (i) line += ' ';
          line += parts[i];
        }
        line += ")\r\n";
        out += line;
      }
      return out;
    };
    std::string out = co_await ctx.db(std::move(render));
    ctx.send(std::move(out));
    co_await ctx.flush();
  }
  co_return Result::ok(ctx.uid ? "UID FETCH completed" : "FETCH completed");
}

}  // namespace postline::imap
