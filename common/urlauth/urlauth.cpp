#include "common/urlauth/urlauth.h"

#include "common/mailstore/message_meta.h"
#include "common/mime/mime.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>

namespace postline::urlauth {

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5092 enc-user: 1*achar (unreserved, sub-delims less ";" "/", "&" "=",
// %XX); decoded. nullopt on anything else. A bare "@" is taken too (clients
// write "imap://joe@example.com@host/" for a user named by address; the
// server part starts after the last "@").
std::optional<std::string> decode_user(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return percent_decode(s, "-._~!$'()*+,&=@");
}

size_t ifind(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequal(hay.substr(i, needle.size()), needle)) return i;
  return std::string_view::npos;
}

int digits(std::string_view s, size_t at, size_t n) {
  if (at + n > s.size()) return -1;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

std::optional<int64_t> parse_date_time(std::string_view s) {
  // full-date "T" partial-time [time-secfrac] time-offset (RFC 3339 5.6).
  const int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || s.size() < 19 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't'))
    return std::nullopt;
  const int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60 || s[13] != ':' ||
      s[16] != ':')
    return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return std::nullopt;
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int oh = digits(s, i + 1, 2), om = digits(s, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || i + 3 >= s.size() || s[i + 3] != ':') return std::nullopt;
    offset = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  const int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return secs - offset;
}

std::optional<UrlauthUrl> parse_urlauth_url(std::string_view text) {
  if (text.size() > kMaxImapUrlOctets || !iequal(text.substr(0, std::min<size_t>(7, text.size())), "imap://"))
    return std::nullopt;
  UrlauthUrl url;
  // The user (authimapurl: enc-user [iauth] "@" hostport is mandatory).
  {
    const std::string_view after = text.substr(7);
    const std::string_view server = after.substr(0, after.find('/'));
    const size_t at = server.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view userinfo = server.substr(0, at);
    userinfo = userinfo.substr(0, userinfo.find(';'));  // ";AUTH=..."
    auto owner = decode_user(userinfo);
    if (!owner) return std::nullopt;
    url.owner = std::move(*owner);
  }
  const size_t ua = ifind(text, ";URLAUTH=");
  if (ua == std::string_view::npos) return std::nullopt;
  std::string_view auth = text.substr(ua + 9);
  // access [":" mechanism ":" token]; enc-user has no ":".
  const size_t colon = auth.find(':');
  const std::string_view access = auth.substr(0, colon);
  if (iequal(access, "anonymous") || iequal(access, "authuser")) {
  } else {
    const size_t plus = access.find('+');
    if (plus == std::string_view::npos) return std::nullopt;
    const std::string_view kind = access.substr(0, plus);
    if (!iequal(kind, "submit") && !iequal(kind, "user")) return std::nullopt;
    if (!decode_user(access.substr(plus + 1))) return std::nullopt;
  }
  url.access = std::string(access);
  url.rump = std::string(text.substr(0, ua + 9 + access.size()));
  if (colon != std::string_view::npos) {
    const std::string_view verifier = auth.substr(colon + 1);
    const size_t second = verifier.find(':');
    if (second == std::string_view::npos) return std::nullopt;
    const std::string_view mech = verifier.substr(0, second), token = verifier.substr(second + 1);
    if (mech.empty() || token.size() < 32) return std::nullopt;
    for (char c : mech)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return std::nullopt;
    for (char c : token)
      if (hex_value(c) < 0) return std::nullopt;
    url.mechanism = to_lower(mech);
    url.token = std::string(token);
  }
  // [";EXPIRE=" date-time] right before ";URLAUTH=".
  std::string_view base = text.substr(0, ua);
  const size_t ex = ifind(base, ";EXPIRE=");
  if (ex != std::string_view::npos) {
    auto when = parse_date_time(base.substr(ex + 8));
    if (!when) return std::nullopt;
    url.expire = *when;
    base = base.substr(0, ex);
  }
  auto message = parse_imap_url(base, url.owner);
  if (!message) return std::nullopt;
  url.message = std::move(*message);
  return url;
}

std::string internal_token(std::string_view key, std::string_view rump) {
  return mailstore::to_hex(hmac_sha256(key, rump));  // lower-case hex, RFC 4467's token form
}

bool verify_internal_token(std::string_view key, std::string_view rump, std::string_view token) {
  const std::string mac = hmac_sha256(key, rump);
  if (token.size() != mac.size() * 2) return false;
  std::string given(mac.size(), '\0');
  for (size_t i = 0; i < mac.size(); ++i) {
    const int hi = hex_value(token[2 * i]), lo = hex_value(token[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    given[i] = static_cast<char>(hi * 16 + lo);
  }
  return CRYPTO_memcmp(given.data(), mac.data(), mac.size()) == 0;
}

bool access_permits(std::string_view access, Fetcher fetcher, std::string_view user) {
  if (iequal(access, "anonymous")) return true;
  if (iequal(access, "authuser")) return !user.empty();
  if (user.empty()) return false;
  const size_t plus = access.find('+');
  if (plus == std::string_view::npos) return false;
  const std::string_view kind = access.substr(0, plus);
  auto named = decode_user(access.substr(plus + 1));
  if (!named || !iequal(*named, user)) return false;
  if (iequal(kind, "user")) return fetcher == Fetcher::kImapSession;
  if (iequal(kind, "submit")) return fetcher == Fetcher::kSubmission;
  return false;
}

std::optional<std::string> url_section_bytes(std::string_view raw, const ImapUrl& url) {
  std::string bytes;
  if (url.section.empty()) {
    bytes = std::string(raw);
  } else {
    auto section = mime::parse_section(url.section);
    if (!section) return std::nullopt;
    const mime::ParsedMessage parsed = mime::parse(raw);
    if (!mime::locate(parsed, *section)) return std::nullopt;
    bytes = mime::fetch_section(parsed, raw, *section);
  }
  if (url.partial_offset) {
    const uint64_t begin = std::min<uint64_t>(*url.partial_offset, bytes.size());
    bytes = bytes.substr(begin, url.partial_length ? *url.partial_length : bytes.size());
  }
  return bytes;
}

Fetched fetch_authorized(mailstore::MailStore& store, mailstore::UserId owner, const UrlauthUrl& url, int64_t now) {
  Fetched out;
  if (url.mechanism != "internal" || url.token.empty()) return out;
  if (url.expire && *url.expire <= now) return out;
  auto mailbox = store.find_mailbox(owner, url.message.mailbox);
  if (!mailbox) return out;
  auto key = store.urlauth_key(owner, url.message.mailbox, false);
  if (!key || !verify_internal_token(*key, url.rump, url.token)) return out;
  if (url.message.uidvalidity && *url.message.uidvalidity != mailbox->uidvalidity) return out;
  out.status = FetchStatus::kNotFound;
  auto records = store.read_messages(owner, mailbox->mailbox_id, {url.message.uid}, mailstore::kFieldBlob);
  if (records.empty()) return out;
  mailstore::BodySet bodies = store.read_bodies(owner, {records[0].blob});
  if (bodies.empty() || !bodies[0]) return out;
  auto bytes = url_section_bytes(*bodies[0], url.message);
  if (!bytes) return out;
  out.status = FetchStatus::kOk;
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace postline::urlauth
