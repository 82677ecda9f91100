// libFuzzer target for SIP messages off the network (sotto::sip::wire) and
// digest challenges (sotto::sip::digest). The input is parsed as a datagram
// and as a stream frame, framed as a TCP byte stream, answered with an error
// response when refused, redacted for the packet log and read as a
// WWW-Authenticate value. Invariants: nothing crashes; frames stay inside the
// buffer and make progress; an Authorization line read after the input is
// always redacted; a digest answer never carries the password.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sotto/sip/digest.h"
#include "sotto/sip/wire.h"

namespace {

namespace wire = sotto::sip::wire;
namespace digest = sotto::sip::digest;

[[noreturn]] void die(const char* what, std::string_view detail) {
  std::fprintf(stderr, "%s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void exercise(const osip_message_t& message) {
  (void)wire::call_id(message);
  (void)wire::cseq_method(message);
  (void)wire::via_branch(message);
  const std::string text = wire::to_string(message);
  if (MSG_IS_REQUEST(&message)) {
    auto response = wire::make_response(message, 404, {}, "fuzz-tag");
    if (response) (void)wire::to_string(*response);
  }
  // What libosip2 prints back may or may not pass our strict parse; it must
  // not crash either way.
  (void)wire::parse(text, true);
}

void parse_and_answer(std::string_view bytes, bool datagram) {
  auto message = wire::parse(bytes, datagram);
  if (message) {
    exercise(**message);
    return;
  }
  if (message.error().status == 0) return;
  const std::string answer =
      wire::error_response(bytes, message.error().status, message.error().reason);
  if (!answer.empty() && !answer.starts_with("SIP/2.0 ")) die("bad error response", answer);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  wire::init();

  parse_and_answer(input, true);
  parse_and_answer(input, false);

  // A TCP byte stream: frame after frame until more bytes are needed.
  std::string_view buffer = input;
  for (int frames = 0; frames < 1000; ++frames) {
    const wire::Frame frame = wire::next_frame(buffer);
    if (frame.kind == wire::Frame::Kind::incomplete || frame.kind == wire::Frame::Kind::error) {
      break;
    }
    if (frame.size == 0 || frame.size > buffer.size()) die("bad frame size", buffer);
    if (frame.kind == wire::Frame::Kind::message) {
      parse_and_answer(buffer.substr(0, frame.size), false);
    }
    buffer.remove_prefix(frame.size);
  }

  // The input may hold the canary itself: only the line added must vanish.
  const auto count = [](std::string_view text) {
    std::size_t n = 0;
    for (auto at = text.find("CANARY-SECRET"); at != std::string_view::npos;
         at = text.find("CANARY-SECRET", at + 1)) {
      ++n;
    }
    return n;
  };
  std::string logged(input);
  logged += "\r\n";
  const std::size_t before = count(wire::redact(logged));
  logged += "Authorization: Digest response=\"CANARY-SECRET\"\r\n";
  if (count(wire::redact(logged)) != before) die("an Authorization value was not redacted", input);

  auto challenge = digest::parse_challenge(input, false);
  if (challenge) {
    const digest::Answer answer{"alice", "CANARY-PASSWORD", "REGISTER", "sip:127.0.0.1", 1, {}};
    const std::string header = digest::authorization(*challenge, answer);
    if (input.find("CANARY-PASSWORD") == std::string_view::npos &&
        header.find("CANARY-PASSWORD") != std::string::npos) {
      die("password in the answer", header);
    }
    (void)digest::choose({*challenge});
  }
  return 0;
}
