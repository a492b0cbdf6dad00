// Moving one account's mailstore rows from one shard (a PostgreSQL cluster
// with the mailstore schema) to another, online (docs/DESIGN.md "Sharding").
// `postline account move` drives it with authd's directory:
//
//   1. bulk_copy(): while the account is live on the source, the target's
//      rows of that user are wiped (a left-over of an earlier attempt) and
//      everything is copied from one REPEATABLE READ snapshot of the source:
//      accounts, mailboxes (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, ids),
//      messages (UIDs, flags, MODSEQs), expunged UIDs, delivery keys,
//      subscriptions, \Recent, METADATA, URLAUTH keys, Sieve scripts and
//      the Sieve delivery state (run records with their outbox, vacation and
//      duplicate history: a vacation reply is not sent again after a move), the
//      bodies with their search and sort rows (content-addressed: a body the
//      target has already is not copied again). Bodies in an external blob
//      store (S3) are objects of the source's namespace (sql/020): each one
//      is copied into the target's namespace under an upload intent the
//      target commits first, and its catalogue row goes in the transaction
//      that finishes the intent - the writers' protocol (sql/016), so the
//      target's sweeper collects what a crash leaves and nothing the target
//      refers to. The source's objects stay until the source's own rows are
//      gone (finish() or cleanup()) and its sweeper collects them. Rows are
//      read in pages by primary key (keyset), the bodies page by page of
//      the messages that refer to them: linear in the account's size.
//   2. begin_switch(): with the account marked "moving" in authd (deliveries
//      defer), the user's account and mailbox rows on the source are locked
//      (every mailstore writer locks its mailbox row first, so writers of this
//      user now wait), and what changed since the bulk copy is copied: per
//      mailbox the messages and expunges with a MODSEQ above the target's
//      HIGHESTMODSEQ, the mailbox rows, the small tables whole, the Sieve
//      history (upserted) and the run records written since the bulk copy.
//   3. Switch::finish(): after authd names the target, the source's rows are
//      deleted in the transaction that held the locks, so a writer that was
//      waiting finds its mailbox gone (a NO, never a silent write to the old
//      shard). Switch::abandon() (or a crash) releases the locks and leaves
//      the source as it was; cleanup() removes the source's rows later.
//
// Every step is idempotent: a move killed anywhere is simply run again.
// Table and column names come from the catalogue, never from input; the
// user id is a bound parameter.
#pragma once

#include "common/mailstore/blob/blob_store.h"
#include "common/mailstore/mail_store.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace postline::mailstore::pg {

struct CopyStats {
  std::map<std::string, int64_t> rows;  // per table
  int64_t bodies = 0;                   // mailstore_blobs rows sent
  int64_t body_bytes = 0;               // their size
  int64_t objects_copied = 0;           // external objects copied into the target's namespace
  int64_t object_bytes = 0;             // their size
  int64_t total_rows() const {
    int64_t n = 0;
    for (const auto& [t, r] : rows) n += r;
    return n;
  }
};

class AccountMoveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class AccountMover {
 public:
  // `blobs`: the external blob store as configured (blob_store_from_config),
  // needed when the account has bodies there; each shard's namespace is
  // read from its database.
  AccountMover(std::string source_url, std::string target_url, std::shared_ptr<BlobStore> blobs = nullptr);
  ~AccountMover();

  // Refuses (AccountMoveError) when the two databases' mailstore tables
  // differ, or when the user has bodies in an external blob store and no
  // store was given, or both shards use the same object namespace (two
  // databases that held external bodies before sql/020: docs/operations.md).
  void check(UserId user);

  // Tests: called at the named steps ("intents": upload intents committed on
  // the target; "objects": a page's objects copied; "bulk" / "delta": the
  // target's rows written, before their commit); may throw.
  std::function<void(const std::string& step)> fault_hook;
  // Rows per page of mailstore_messages (tests make it small).
  int message_batch = 1000;

  struct Bulk {
    CopyStats stats;
    std::string since;  // the source's clock when its snapshot was taken
  };
  Bulk bulk_copy(UserId user);

  class Switch {
   public:
    ~Switch();  // abandons when not finished
    const CopyStats& delta() const { return delta_; }
    // Marks the account moved on the source (mailstore_moved_accounts, sql/019:
    // later inserts of its mailboxes or messages there fail with PL010),
    // deletes its rows there (when `delete_source`) and releases the locks.
    void finish(bool delete_source, const std::string& moved_to);
    void abandon();

   private:
    friend class AccountMover;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    CopyStats delta_;
  };
  // `since`: Bulk::since of the bulk copy this delta follows. Waits up to
  // `lock_timeout_ms` for the user's writers on the source.
  std::unique_ptr<Switch> begin_switch(UserId user, const std::string& since, int lock_timeout_ms = 10000);

  // Deletes every row of the user from the database at `url` (the source
  // after a move that ended before finish(), or the target of an abandoned
  // move) and, with `moved_to`, marks the account moved there. The catalogue
  // rows of its bodies stay (content-addressed, other users may refer to
  // them): the shard's blob sweeper collects those nobody refers to, with
  // their objects in that shard's namespace.
  static CopyStats cleanup(const std::string& url, UserId user, const std::string& moved_to = "");

  // Rows of the user at `url`, per table (tests, `postline account move`'s
  // report).
  static std::map<std::string, int64_t> count_rows(const std::string& url, UserId user);

  // Sends the "account moved" change event on the database's change channel:
  // imapd sessions of that user on that shard end with BYE [UNAVAILABLE].
  // `from_shard` (the shard's name) goes with the event, so sessions on
  // another shard stay.
  static void announce_moved(const std::string& url, UserId user, const std::string& from_shard = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::mailstore::pg
