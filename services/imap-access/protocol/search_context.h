// RFC 5267 CONTEXT=SEARCH / CONTEXT=SORT: the UPDATE contexts of a selected
// mailbox. A context is a SEARCH or SORT that asked for RETURN (UPDATE): its
// criteria (fixed when the command ran: message numbers and "$" stand for the
// messages they named then), its current result as UIDs (mailbox order for
// SEARCH, sort order for SORT) and the UIDs whose membership may have changed
// since the client was last told (`dirty`). The view (SelectedMailbox) owns the
// contexts, so a new SELECT, EXAMINE, UNSELECT or CLOSE ends them.
//
// Pure: re-evaluating the criteria is commands/search_context.cpp's job (the
// store or the view answers); this renders the ESEARCH ADDTO / REMOVEFROM
// responses and keeps the result in step with what the client was told.
#pragma once

#include "common/mailstore/mail_store.h"

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace postline::imap {

// At most this many UPDATE contexts per session; one more is answered with an
// untagged NO [NOUPDATE "tag"] and runs without updates (RFC 5267 4.3.1).
inline constexpr size_t kMaxUpdateContexts = 10;

class SearchContext {
 public:
  using MsnOf = std::function<uint32_t(uint32_t uid)>;

  std::string tag;
  bool uid = false;     // UID SEARCH / UID SORT: updates name UIDs, else message numbers
  bool sorted = false;  // a SORT context: positions are places in sort order
  mailstore::SearchCriterion criteria;
  std::vector<mailstore::SortCriterion> keys;  // SORT only
  std::vector<uint32_t> result;                // UIDs, in result order
  std::set<uint32_t> dirty;                    // to re-evaluate

  bool contains(uint32_t uid) const;
  // Takes `gone` out of the result. Returns the REMOVEFROM response (empty
  // when none of them was in it). Numbers are taken before anything is
  // removed from the view, so message numbers are still valid.
  std::string remove(const std::set<uint32_t>& gone, const MsnOf& msn_of);
  // Adds `added` (UIDs not yet in the result). For a SEARCH context they go
  // to their place in mailbox order; for a SORT context `order` is the result
  // with them in sort order (what the store answered). Returns the ADDTO
  // response (empty when nothing was added).
  std::string add(const std::set<uint32_t>& added, const std::vector<uint32_t>& order, const MsnOf& msn_of);

 private:
  std::string response(const char* item, const std::string& pairs) const;
};

class SearchContexts {
 public:
  bool empty() const { return contexts_.empty(); }
  size_t size() const { return contexts_.size(); }
  std::vector<SearchContext>& all() { return contexts_; }
  SearchContext* find(const std::string& tag);
  void add(SearchContext c) { contexts_.push_back(std::move(c)); }
  bool cancel(const std::string& tag);
  void clear() { contexts_.clear(); }
  // The message's flags changed or it is new to the view: every context looks at it again.
  void touch(uint32_t uid);
  bool has_dirty() const;
  // Messages about to leave the view (EXPUNGE / VANISHED): they leave every
  // result; the REMOVEFROM responses go before the EXPUNGEs.
  std::string expunge(const std::vector<uint32_t>& uids, const SearchContext::MsnOf& msn_of);

 private:
  std::vector<SearchContext> contexts_;
};

}  // namespace postline::imap
