// FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
// CHANGEDSINCE). Parsed structures come from the store (common/mime's
// serialized tree), bodies from the BlobStore by byte range, so fetching one
// attachment reads that part only.
//
// Speed (bench/imap_fetch.py): bodies and body parts are read in bulk, one
// query per group of messages (up to kPrefetchBytes), instead of one query per
// message; each message is rendered straight into the response buffer (a body
// is copied once, into the literal); one database hop renders up to
// kChunkBytes of responses, which go out while the next chunk is read, so
// memory stays bounded whatever the mailbox size.
#include "services/imap-access/commands/registry.h"
#include "services/imap-access/commands/selection.h"

#include "common/mailstore/blob_store.h"
#include "common/mailstore/store.h"
#include "common/mime/mime.h"
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace postline::imap {

namespace {

constexpr size_t kRecordBatch = 256;        // message rows read per database hop
constexpr size_t kChunkBytes = 4u << 20;    // responses rendered per hop before they are written
constexpr size_t kPrefetchBytes = 4u << 20; // body bytes asked for in one bulk query

// Body bytes of a group of messages, read in bulk before the group is rendered.
struct Prefetched {
  std::unordered_map<std::string, std::string> full;  // blob key -> whole body
  std::map<std::tuple<std::string, uint64_t, uint64_t>, std::string> ranges;  // (key, begin, length)
};

// What rendering a message will read, found by a dry run of the renderer.
struct Wants {
  std::vector<std::string> full;                      // blob keys
  std::vector<mailstore::BlobStore::Range> ranges;
  uint64_t bytes = 0;                                 // an upper bound of what they return
};

// Reads what the items need for one message and renders its FETCH response.
// Runs on a database thread. In collect mode it reads nothing: it records the
// bodies and ranges it would read (so a group can be fetched in one query) and
// answers empty bytes; then render mode finds them in the Prefetched set. What
// is not there (a blob that vanished, a renderer used without a dry run) is
// read one at a time as before.
class MessageRenderer {
 public:
  MessageRenderer(pqxx::transaction_base& tx, const mailstore::MessageRecord& rec) : tx_(tx), rec_(rec) {}

  void collect(Wants* wants) { wants_ = wants; }
  void render(const Prefetched* pre) {
    wants_ = nullptr;
    pre_ = pre;
  }
  const mailstore::MessageRecord& record() const { return rec_; }

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
      auto it = pre_->full.find(rec_.blob_key);
      if (it != pre_->full.end()) return *(full_ = &it->second);
    }
    if (wants_) {
      if (!wants_full_) {
        wants_full_ = true;
        wants_->full.push_back(rec_.blob_key);
        wants_->bytes += static_cast<uint64_t>(std::max<int64_t>(rec_.size, 0));
      }
      return {};
    }
    own_full_ = mailstore::read_body(tx_, rec_.blob_key).value_or("");
    return *(full_ = &*own_full_);
  }

  std::string range(uint64_t begin, uint64_t length) {
    if (!full_ && pre_) {  // the whole body may be there already (never read it just for a range)
      auto it = pre_->full.find(rec_.blob_key);
      if (it != pre_->full.end()) full_ = &it->second;
    }
    if (full_) {
      std::string_view f = *full_;
      return std::string(f.substr(std::min<uint64_t>(begin, f.size()), length));
    }
    if (wants_) {
      if (!wants_full_) {
        wants_->ranges.push_back({rec_.blob_key, begin, length});
        uint64_t size = static_cast<uint64_t>(std::max<int64_t>(rec_.size, 0));
        wants_->bytes += begin >= size ? 0 : std::min(length, size - begin);
      }
      return {};
    }
    if (pre_) {
      auto it = pre_->ranges.find({rec_.blob_key, begin, length});
      if (it != pre_->ranges.end()) return it->second;
    }
    return mailstore::read_body_range(tx_, rec_.blob_key, begin, length).value_or("");
  }

  // BODY[section] bytes before <partial> is applied; nullopt for a bad spec.
  // The whole message (empty spec) is full(), without a copy.
  std::optional<std::string> section(const std::string& spec) {
    if (spec.empty()) return std::string(full());
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
    if (path.empty() && !p->is_multipart()) {
      std::string_view f = full();
      return mime::decode_transfer(f.substr(std::min<uint64_t>(p->body_start, f.size())), p->encoding);
    }
    return mime::decode_transfer(range(p->body_start, p->size()), p->encoding);
  }

 private:
  pqxx::transaction_base& tx_;
  const mailstore::MessageRecord& rec_;
  Wants* wants_ = nullptr;
  const Prefetched* pre_ = nullptr;
  bool wants_full_ = false;
  std::optional<mime::ParsedMessage> parsed_;
  const std::string* full_ = nullptr;  // into pre_ or own_full_
  std::optional<std::string> own_full_;
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

// What the items ask for, decided once per command.
struct Wanted {
  std::vector<FetchItem> items;
  bool uid = false, flags = false, modseq = false;
  bool bodies = false;  // some item reads body bytes
};

// The dry run: every item that reads body bytes, with the output thrown away.
void collect(MessageRenderer& m, const Wanted& w) {
  const auto& rec = m.record();
  for (const auto& it : w.items) {
    if (it.kind == FetchItem::kSection) {
      if (it.section.empty() && it.origin) {
        uint64_t len = it.length ? *it.length : static_cast<uint64_t>(rec.size);
        if (*it.origin < static_cast<uint64_t>(rec.size)) m.range(*it.origin, len);
      } else if (it.section.empty()) {
        m.full();
      } else {
        m.section(it.section);
      }
    } else if (it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize) {
      m.binary(it.section);
    }
  }
}

// Appends "* n FETCH (...)\r\n" for one message.
void render(std::string& out, uint32_t msn, MessageRenderer& m, const Wanted& w, bool seen_changed) {
  const auto& rec = m.record();
  out += "* ";
  out += std::to_string(msn);
  out += " FETCH (";
  bool first = true;
  auto item = [&]() -> std::string& {
    if (!first) out += ' ';
    first = false;
    return out;
  };
  if (w.uid) item() += "UID " + std::to_string(rec.uid);
  if (w.flags || seen_changed) item() += "FLAGS " + flag_list(rec.flags);
  if (w.modseq) item() += "MODSEQ (" + std::to_string(rec.modseq) + ")";
  for (const auto& it : w.items) {
    switch (it.kind) {
      case FetchItem::kUid: case FetchItem::kFlags: case FetchItem::kModseq: break;
      case FetchItem::kInternalDate: item() += "INTERNALDATE \"" + imap_datetime(rec.internaldate) + "\""; break;
      case FetchItem::kSize: item() += "RFC822.SIZE " + std::to_string(rec.size); break;
      case FetchItem::kEnvelope: item() += "ENVELOPE " + mime::imap_envelope(m.parsed()); break;
      case FetchItem::kBody: item() += "BODY " + mime::imap_bodystructure(m.parsed(), false); break;
      case FetchItem::kBodyStructure: item() += "BODYSTRUCTURE " + mime::imap_bodystructure(m.parsed(), true); break;
      case FetchItem::kSection: {
        item() += it.name;
        if (it.origin) out += "<" + std::to_string(*it.origin) + ">";
        out += ' ';
        if (it.section.empty() && it.origin) {
          // BODY[]<o.n>: read only the range asked for.
          uint64_t len = it.length ? *it.length : static_cast<uint64_t>(rec.size);
          append_literal(out, *it.origin >= static_cast<uint64_t>(rec.size) ? "" : m.range(*it.origin, len));
        } else if (it.section.empty()) {
          append_literal(out, m.full());  // the whole message: copied once, from the blob into the response
        } else {
          auto s = m.section(it.section);
          append_literal(out, s ? apply_partial(std::move(*s), it) : "");
        }
        break;
      }
      case FetchItem::kBinary: {
        auto b = m.binary(it.section);
        std::string bytes = b ? apply_partial(std::move(*b), it) : "";
        item() += it.name;
        if (it.origin) out += "<" + std::to_string(*it.origin) + ">";
        out += ' ';
        // literal8 (~{n}) when the decoded data holds NUL (RFC 3516 4.2).
        append_literal(out, bytes, bytes.find('\0') != std::string::npos);
        break;
      }
      case FetchItem::kBinarySize: {
        auto b = m.binary(it.section);
        item() += it.name + " " + std::to_string(b ? b->size() : 0);
        break;
      }
      case FetchItem::kEmailId: item() += "EMAILID (" + rec.email_id + ")"; break;
      case FetchItem::kThreadId: item() += "THREADID NIL"; break;
      case FetchItem::kSaveDate: item() += "SAVEDATE \"" + imap_datetime(rec.savedate) + "\""; break;
      case FetchItem::kPreview: item() += "PREVIEW " + nstring(rec.preview); break;
    }
  }
  out += ")\r\n";
}

// Reads a group's bodies and ranges: one query each (duplicates asked once).
Prefetched prefetch(pqxx::transaction_base& tx, const Wants& w) {
  Prefetched pre;
  auto& blobs = mailstore::default_blob_store();
  if (!w.full.empty()) {
    std::vector<std::string> keys;
    std::set<std::string> seen;
    for (const auto& k : w.full)
      if (seen.insert(k).second) keys.push_back(k);
    auto got = blobs.get_many(tx, keys);
    for (size_t i = 0; i < keys.size(); ++i)
      if (got[i]) pre.full.emplace(keys[i], std::move(*got[i]));
  }
  std::vector<mailstore::BlobStore::Range> ranges;
  std::set<std::tuple<std::string, uint64_t, uint64_t>> seen;
  for (const auto& r : w.ranges)
    if (!pre.full.count(r.key) && seen.insert({r.key, r.offset, r.length}).second) ranges.push_back(r);
  if (!ranges.empty()) {
    auto got = blobs.get_ranges(tx, ranges);
    for (size_t i = 0; i < ranges.size(); ++i)
      if (got[i]) pre.ranges.emplace(std::make_tuple(ranges[i].key, ranges[i].offset, ranges[i].length),
                                     std::move(*got[i]));
  }
  return pre;
}

struct Chunk {
  std::string out;
  size_t consumed = 0;  // jobs done (rendered, expunged meanwhile, or unchanged since CHANGEDSINCE)
};

// One database hop: renders jobs in order until kChunkBytes of output.
Chunk render_chunk(pqxx::connection& c, int64_t user_id, int64_t mailbox_id, const std::vector<Job>& jobs,
                   const Wanted& w, std::optional<int64_t> changed_since, const std::set<uint32_t>& seen_changed) {
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(c);
  std::vector<int64_t> uids;
  for (const auto& j : jobs) uids.push_back(j.uid);
  auto records = mailstore::fetch_records(tx, user_id, mailbox_id, uids);

  // Pair jobs with their rows; a job without one was expunged meanwhile.
  std::vector<const mailstore::MessageRecord*> rec_of(jobs.size(), nullptr);
  for (size_t i = 0, r = 0; i < jobs.size(); ++i) {
    while (r < records.size() && records[r].uid < jobs[i].uid) ++r;
    if (r == records.size() || records[r].uid != jobs[i].uid) continue;
    if (changed_since && records[r].modseq <= *changed_since) continue;
    rec_of[i] = &records[r];
  }

  Chunk chunk;
  size_t i = 0;
  while (i < jobs.size() && chunk.out.size() < kChunkBytes) {
    // A group: consecutive messages whose body reads fit kPrefetchBytes (at least one).
    std::deque<MessageRenderer> group;
    std::vector<size_t> group_jobs;
    Wants wants;
    size_t j = i;
    for (; j < jobs.size(); ++j) {
      if (!rec_of[j]) continue;
      if (!w.bodies) {
        group.emplace_back(tx, *rec_of[j]);
        group_jobs.push_back(j);
        if (group.size() >= 64) { ++j; break; }
        continue;
      }
      MessageRenderer m(tx, *rec_of[j]);
      Wants mine;
      m.collect(&mine);
      collect(m, w);
      if (!group.empty() && wants.bytes + mine.bytes > kPrefetchBytes) break;
      group.push_back(std::move(m));
      group_jobs.push_back(j);
      wants.bytes += mine.bytes;
      for (auto& k : mine.full) wants.full.push_back(std::move(k));
      for (auto& r : mine.ranges) wants.ranges.push_back(std::move(r));
    }
    Prefetched pre = w.bodies ? prefetch(tx, wants) : Prefetched{};
    for (size_t g = 0; g < group.size(); ++g) {
      auto& m = group[g];
      m.render(&pre);
      const auto& job = jobs[group_jobs[g]];
      render(chunk.out, job.msn, m, w, seen_changed.count(job.uid) > 0);
    }
    i = j;
  }
  chunk.consumed = i;
  return chunk;
}

// A chunk being rendered on the database pool while the previous one is
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
  ctx.args.sp();
  auto set = SequenceSet::parse(ctx.args.sequence_set_text());
  if (!set) ctx.args.fail("invalid sequence set");
  ctx.args.sp();
  FetchRequest req = parse_fetch(ctx.args);
  if (req.vanished && !(ctx.uid && ctx.session.qresync && req.changed_since))
    co_return Result::bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
  auto& sel = *ctx.session.selected;
  if (req.changed_since) ctx.session.condstore = true;

  Wanted wanted;
  wanted.items = req.items;
  wanted.uid = ctx.uid;
  wanted.modseq = req.changed_since.has_value();
  bool sets_seen = false;
  for (const auto& it : req.items) {
    if (it.kind == FetchItem::kUid) wanted.uid = true;
    if (it.kind == FetchItem::kFlags) wanted.flags = true;
    if (it.kind == FetchItem::kModseq) wanted.modseq = true;
    if (it.kind == FetchItem::kSection || it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize)
      wanted.bodies = true;
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

  // Chunks of at most kRecordBatch messages / kChunkBytes of responses per
  // database hop. The next chunk is read while this one is written (the
  // database and the client's socket work at the same time); at most two
  // chunks exist at once, so memory stays bounded.
  const auto changed_since = req.changed_since;
  auto executor = co_await asio::this_coro::executor;
  // Shared, not referenced: the database thread must not point into this frame.
  auto seen = std::make_shared<const std::set<uint32_t>>(std::move(seen_changed));
  auto start = [&](size_t from) {
    auto pending = std::make_shared<PendingChunk>(executor);
    std::vector<Job> slice(jobs.begin() + from, jobs.begin() + std::min(jobs.size(), from + kRecordBatch));
    auto work = [=, seen = seen](pqxx::connection& c) {
      return render_chunk(c, user_id, mailbox_id, slice, wanted, changed_since, *seen);
    };
    auto done = [pending](std::exception_ptr e, Chunk chunk) {
      pending->error = e;
      pending->chunk = std::move(chunk);
      pending->done = true;
      pending->wake.cancel();
    };
    asio::co_spawn(executor, ctx.db(std::move(work)), std::move(done));
    return pending;
  };
  std::shared_ptr<PendingChunk> pending = jobs.empty() ? nullptr : start(0);
  for (size_t next = 0; pending;) {
    Chunk chunk = co_await pending->take();
    next += chunk.consumed;
    pending = next < jobs.size() ? start(next) : nullptr;
    ctx.send(std::move(chunk.out));
    co_await ctx.flush();
  }
  co_return Result::ok(ctx.uid ? "UID FETCH completed" : "FETCH completed");
}

}  // namespace postline::imap
