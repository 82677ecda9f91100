// libFuzzer target for the XMPP stream parser: feeds the input in a few chunks
// (split points taken from the first bytes), restarts the stream on <proceed/>
// and <success/> as a client does, and checks that every parsed stanza
// survives a serialize / parse round trip unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/xmpp/xml.h"

namespace {

using sotto::xmpp::Element;
using sotto::xmpp::ParserLimits;
using sotto::xmpp::StreamParser;

[[noreturn]] void die(const char* what, std::string_view detail) {
  std::fprintf(stderr, "%s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// Small limits so that the fuzzer reaches them.
ParserLimits stream_limits() {
  ParserLimits limits;
  limits.max_stanza_bytes = 8 * 1024;
  limits.max_depth = 12;
  limits.max_attributes = 16;
  limits.max_children = 200;
  return limits;
}

// Serialization can be larger than the input (xmlns on every element), so
// the round trip gets room.
ParserLimits roundtrip_limits() {
  ParserLimits limits;
  limits.max_stanza_bytes = std::size_t{64} * 1024 * 1024;
  return limits;
}

void check_roundtrip(const Element& element) {
  const std::string xml = element.to_string(sotto::xmpp::ns::client);
  auto reparsed = sotto::xmpp::parse_element(xml, sotto::xmpp::ns::client, roundtrip_limits());
  if (!reparsed)
    die(("serialized element does not parse: " + reparsed.error().message).c_str(), xml);
  const std::string again = reparsed->to_string(sotto::xmpp::ns::client);
  if (again != xml) die("round trip changed the element", xml + "\n---\n" + again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 3, size - 3);

  // Up to three split points, each a fraction of the input given by one byte.
  std::vector<std::size_t> cuts = {0};
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t cut = input.size() * data[i] / 256;
    cuts.push_back(std::max(cut, cuts.back()));
  }
  cuts.push_back(input.size());

  StreamParser* self = nullptr;
  StreamParser parser(StreamParser::Callbacks{
                          [](const Element& header) { check_roundtrip(header); },
                          [&self](Element stanza) {
                            check_roundtrip(stanza);
                            if (stanza.name() == "proceed" || stanza.name() == "success")
                              self->reset();
                          },
                          [] {},
                      },
                      stream_limits());
  self = &parser;

  bool failed = false;
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    auto fed = parser.feed(input.substr(cuts[i], cuts[i + 1] - cuts[i]));
    if (failed && fed) die("parser recovered from an error without reset()", input);
    if (!fed) {
      if (fed.error().message.empty()) die("error without a message", input);
      failed = true;
    }
  }

  // The same bytes as one standalone element.
  if (auto element = sotto::xmpp::parse_element(input, sotto::xmpp::ns::client, stream_limits())) {
    check_roundtrip(*element);
  }
  return 0;
}
