// libFuzzer target for SDP bodies off the network (sotto::sdp). Invariants:
// nothing crashes; what parses prints to text that parses again and prints
// the same; an answer to what parses prints, parses, and reads back as an
// answer to that offer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sotto/sdp/sdp.h"

namespace {

namespace sdp = sotto::sdp;

[[noreturn]] void die(const char* what, std::string_view detail) {
  std::fprintf(stderr, "%s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto session = sdp::parse(input);
  if (!session) return 0;

  const std::string text = sdp::to_string(*session);
  auto again = sdp::parse(text);
  if (!again) die("printed SDP does not parse", text + "\n" + again.error().message);
  if (sdp::to_string(*again) != text) die("printing is not stable", text);
  for (const auto& media : session->media) {
    (void)sdp::media_address(*session, media);
    (void)sdp::effective_direction(*session, media);
  }

  sdp::LocalMedia local;
  local.address = "127.0.0.1";
  local.audio_port = 4000;
  local.zrtp_hash = "1.10 " + std::string(64, 'a');
  for (auto wanted : {sdp::Direction::sendrecv, sdp::Direction::sendonly}) {
    auto answer = sdp::make_answer(*session, local, wanted, 1, 1);
    if (!answer) continue;
    const std::string answer_text = sdp::to_string(answer->first);
    auto parsed = sdp::parse(answer_text);
    if (!parsed) die("our answer does not parse", answer_text + "\n" + parsed.error().message);
    auto read = sdp::read_answer(*session, *parsed);
    if (!read) die("our answer does not read back", answer_text + "\n" + read.error().message);
  }
  // And our own offer, answered by what the input describes as local media.
  (void)sdp::read_answer(sdp::make_offer(local, sdp::Direction::sendrecv, 1, 1), *session);
  return 0;
}
