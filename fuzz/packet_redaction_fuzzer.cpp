// libFuzzer target for the packet log's password redaction
// (sotto::xmpp::redact_passwords), which reads what the server sends when
// packet logging is on. The input is cut into two pieces at its first byte's
// value, as reads split a stream. Invariants: nothing crashes; the text of a
// password element read whole after it never reaches the output.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sotto/xmpp/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t cut = std::min<std::size_t>(data[0], input.size());
  bool open = false;
  std::string out = sotto::xmpp::redact_passwords(input.substr(0, cut), open);
  out += sotto::xmpp::redact_passwords(input.substr(cut), open);

  // A whole password element read next is redacted, whatever the input left.
  const std::string canary = sotto::xmpp::redact_passwords(
      "<iq><query><password>CANARY-SECRET</password></query></iq>", open);
  if (canary.find("CANARY-SECRET") != std::string::npos) {
    std::fprintf(stderr, "a whole password element was not redacted\n");
    std::abort();
  }
  return 0;
}
