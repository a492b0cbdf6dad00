// libFuzzer entry point for the typed command arguments (protocol/command_args.h).
// The input is what a client would send. The Receiver frames it into commands
// (lines and literals) under small limits, each command's head is read as
// commands/dispatch.cpp reads it, and then the command's own parser runs.
// SyntaxError is the only exception allowed out. Anything else is a bug: another
// exception, a crash, a sanitizer report, a hang, or a parsed struct that
// breaks a documented limit.
//
// Build with -DPOSTLINE_FUZZ=ON and clang++ (target imap_args_fuzz). Without
// it, corpus_main.cpp runs the same function once per corpus file
// (imap_args_fuzz_corpus, a ctest).
#include "services/imap-access/protocol/command_args.h"
#include "services/imap-access/protocol/receiver.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

namespace {

using namespace postline::imap;

void require(bool ok) {
  if (!ok) std::abort();
}

void require_name(const std::string& s) { require(s.size() <= kMaxMailboxNameOctets && s.find('\0') == s.npos); }

void require_flags(const std::vector<std::string>& flags) {
  require(flags.size() <= kMaxFlags);
  for (const auto& f : flags) {
    require(!f.empty());
    if (f[0] == '\\')
      require(f == "\\Seen" || f == "\\Answered" || f == "\\Flagged" || f == "\\Deleted" || f == "\\Draft");
    else
      require(f.size() <= kMaxKeywordOctets);
  }
}

void require_metadata_entry(const std::string& e) {
  require(e.size() <= kMaxMetadataEntryOctets && !metadata_entry_error(e));
  for (char c : e) require(c >= 0x20 && c < 0x7f && c != '*' && c != '%');
}

// What the header promises about a parsed struct.
void check(const CommandArgs& parsed) {
  std::visit(
      [](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, IdArgs>) {
          if (a.params) {
            require(a.params->size() <= kMaxIdPairs);
            for (const auto& [field, value] : *a.params)
              require(field.size() <= kMaxIdFieldOctets && (!value || value->size() <= kMaxIdValueOctets));
          }
        } else if constexpr (std::is_same_v<T, EnableArgs>) {
          require(!a.capabilities.empty() && a.capabilities.size() <= kMaxEnableCapabilities);
        } else if constexpr (std::is_same_v<T, LoginArgs>) {
          require(a.userid.size() <= kMaxCredentialOctets && a.password.size() <= kMaxCredentialOctets);
        } else if constexpr (std::is_same_v<T, SelectArgs>) {
          require_name(a.mailbox);
          if (a.qresync) {
            require(a.qresync->uidvalidity != 0 && a.qresync->modseq <= kMaxModSequence);
            if (a.qresync->seq_match) require(!a.qresync->seq_match->msns.empty());
          }
        } else if constexpr (std::is_same_v<T, MailboxArgs> || std::is_same_v<T, StatusArgs> ||
                             std::is_same_v<T, CopyArgs>) {
          require_name(a.mailbox);
        } else if constexpr (std::is_same_v<T, ReplaceArgs>) {
          require_name(a.mailbox);
          require(!a.target.empty());
          require_flags(a.message.flags);
          require(!a.message.utf8 || a.message.literal8);
        } else if constexpr (std::is_same_v<T, RenameArgs>) {
          require_name(a.from);
          require_name(a.to);
        } else if constexpr (std::is_same_v<T, ListArgs>) {
          require_name(a.reference);
          require(!a.patterns.empty() && a.patterns.size() <= kMaxListPatterns);
          for (const auto& p : a.patterns) require_name(p);
          require(!a.select_recursivematch || a.select_subscribed || a.select_special_use);
        } else if constexpr (std::is_same_v<T, AppendArgs>) {
          require_name(a.mailbox);
          require(!a.messages.empty() && a.messages.size() <= kMaxAppendMessages);
          for (const auto& m : a.messages) {
            require_flags(m.flags);
            require(!m.utf8 || m.literal8);
            require(m.catenate.size() <= kMaxCatenateParts);
            for (const auto& part : m.catenate) {
              if (!part.is_url) continue;
              require(part.text.size() <= kMaxImapUrlOctets);
              // The handler parses the URL: it must never throw or accept what is not one.
              if (auto url = parse_imap_url(part.text, "user@example.test")) require(url->uid != 0 && !url->mailbox.empty());
            }
          }
        } else if constexpr (std::is_same_v<T, FetchArgs>) {
          require(!a.request.changed_since || *a.request.changed_since >= 0);
          require(!a.request.vanished || (a.uid && a.request.changed_since));
        } else if constexpr (std::is_same_v<T, StoreArgs>) {
          require_flags(a.flags);
          require(!a.unchanged_since || *a.unchanged_since <= kMaxModSequence);
        } else if constexpr (std::is_same_v<T, SetQuotaArgs>) {
          require_name(a.root);
          require(!a.storage_kib || *a.storage_kib <= kMaxQuotaLimit);
          require(!a.messages || *a.messages <= kMaxQuotaLimit);
          require(a.unsupported.size() <= kMaxQuotaResources);
        } else if constexpr (std::is_same_v<T, GetMetadataArgs>) {
          require_name(a.mailbox);
          require(!a.entries.empty() && a.entries.size() <= kMaxMetadataEntriesPerCommand);
          for (const auto& e : a.entries) require_metadata_entry(e);
        } else if constexpr (std::is_same_v<T, SetMetadataArgs>) {
          require_name(a.mailbox);
          require(!a.updates.empty() && a.updates.size() <= kMaxMetadataEntriesPerCommand);
          for (const auto& u : a.updates) {
            require_metadata_entry(u.entry);
            require(u.entry.find('/', 1) != std::string::npos);  // never /private or /shared alone
          }
        } else if constexpr (std::is_same_v<T, NotifyArgs>) {
          require(a.outcome != NotifyParse::Outcome::kBad);
        }
      },
      parsed);
}

void run(const std::string& command) {
  try {
    Reader r(command);
    CommandHead head = parse_command_head(r);
    CommandArgs parsed = parse_command_args(head.name, r);
    require(r.at_end());
    check(parsed);
  } catch (const SyntaxError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReceiverLimits limits;
  limits.max_line = 16384;
  limits.max_literal = 65536;
  Receiver receiver(limits);
  receiver.feed(std::string_view(reinterpret_cast<const char*>(data), size));
  receiver.feed("\r\n");  // so a last line without CRLF is a command too
  for (;;) {
    Receiver::Event e = receiver.next();
    if (e.kind == Receiver::Kind::kNeedMore) break;
    if (e.kind != Receiver::Kind::kCommand) continue;
    run(e.text);
    receiver.command_done();
  }
  return 0;
}
