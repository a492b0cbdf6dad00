// libFuzzer entry point for cacheable_ttl (common/dns/answer_cache.h): the TTL
// read from a raw DNS answer, which comes from the network. Both readings
// (positive, negative) must stay within the message and give a TTL that is
// positive and below 2^31 or none.
#include "common/dns/answer_cache.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> message(data, data + size);
  for (bool positive : {true, false}) {
    const auto ttl = postline::dns::cacheable_ttl(message, positive);
    if (ttl && (ttl->count() <= 0 || ttl->count() > 0x7FFFFFFF)) std::abort();
  }
  return 0;
}
