// libFuzzer entry point for the COMPRESS=DEFLATE inflate stage
// (protocol/deflate.h): the input is what a client sends after COMPRESS
// DEFLATE, raw DEFLATE bytes. They are fed in uneven pieces as socket reads
// would bring them, inflated one small buffer at a time and framed by a
// Receiver as server/connection.cpp does. Garbage must end in the codec's
// error, never in an exception, a crash, a hang or a sanitizer report; an
// inflate call never writes more than its buffer; and the plain bytes the
// stream gave, compressed by the codec's own deflate side, must inflate back
// to the same bytes (what the server sends is what a client reads).
//
// Build with -DPOSTLINE_FUZZ=ON and clang++ (target imap_deflate_fuzz).
// Without it, corpus_main.cpp runs it once per file of corpus/deflate
// (imap_deflate_fuzz_corpus, a ctest).
#include "services/imap-access/protocol/deflate.h"
#include "services/imap-access/protocol/receiver.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace postline::imap;

void require(bool ok) {
  if (!ok) std::abort();
}

// Plain bytes kept for the round-trip check; the rest is only framed.
constexpr size_t kRoundTripBytes = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  DeflateCodec codec;
  require(codec.ok());
  ReceiverLimits limits;
  limits.max_line = 4096;
  limits.max_literal = 65536;
  Receiver receiver(limits);
  std::string plain;
  char buf[333];
  static constexpr size_t kPieces[] = {1, 7, 64, 2048, 3};
  size_t piece = 0;
  bool failed = false;
  for (size_t off = 0; off < input.size() && !failed;) {
    const size_t n = std::min(kPieces[piece++ % std::size(kPieces)], input.size() - off);
    codec.feed(input.substr(off, n));
    off += n;
    // One piece of input can only be worth so much output (DEFLATE's best
    // ratio is about 1032:1, plus what zlib held back): a spin is a bug.
    size_t calls = 0;
    while (codec.input_pending()) {
      require(++calls < 16 + n * 1100 / sizeof buf + 1000);
      const DeflateCodec::Inflated r = codec.inflate(buf, sizeof buf);
      if (r.error) {
        require(codec.failed() && !codec.error().empty() && !codec.input_pending());
        failed = true;
        break;
      }
      require(r.bytes <= sizeof buf);
      if (plain.size() < kRoundTripBytes) plain.append(buf, std::min(r.bytes, kRoundTripBytes - plain.size()));
      receiver.feed(std::string_view(buf, r.bytes));
      for (;;) {
        Receiver::Event e = receiver.next();
        if (e.kind == Receiver::Kind::kNeedMore) break;
        if (e.kind == Receiver::Kind::kCommand) receiver.command_done();
      }
    }
  }
  require(codec.plain_in() >= plain.size());
  // The other direction with the same bytes, decoded by a second codec.
  DeflateCodec back;
  std::string z;
  codec.compress(plain, z);
  codec.flush(z);
  back.feed(z);
  std::string again;
  while (back.input_pending()) {
    const DeflateCodec::Inflated r = back.inflate(buf, sizeof buf);
    require(!r.error);
    again.append(buf, r.bytes);
  }
  require(again == plain);
  return 0;
}
