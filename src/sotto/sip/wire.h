// Private to sotto/sip: SIP messages on the wire, over libosip2's parser,
// with the checks libosip2 leaves out (see ../shared/reference/FACTS.md:
// it accepts Content-Length "-5" or "abc", SIP/3.0, and prints to stderr).
//
// Everything here reads network input: never crash, never read past the
// bytes given, bounded work. Covered by fuzz/sip_message_fuzzer.cpp.
#pragma once

// libosip2's headers need these first.
#include <sys/time.h>
#include <time.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <osipparser2/osip_message.h>
#include <tl/expected.hpp>

namespace sotto::sip::wire {

inline constexpr std::size_t kMaxMessage = 65535;  // bytes, headers and body

struct MessageDeleter {
  void operator()(osip_message_t* message) const;
};
using MessagePtr = std::unique_ptr<osip_message_t, MessageDeleter>;

// Once per process (thread-safe): parser tables, and libosip2's trace output
// routed into our log at debug level, rate-limited, never to stderr.
void init();

struct ParseError {
  // What to answer a request with: 400, 413 (too large), 505 (version), or 0
  // when nothing can be answered (a response, or too broken to find Via,
  // From, To, Call-ID and CSeq): drop it.
  int status = 0;
  std::string reason;  // for the log and the reason phrase: "Missing Call-ID"
};

// Parses one whole message (a datagram, or one frame of a stream) strictly:
//  - at most kMaxMessage bytes (413 for a request), no header line over 8 kB;
//  - a request line "METHOD SP Request-URI SP SIP/2.0" (505 for another
//    version), a status line "SIP/2.0 SP 3DIGIT SP reason";
//  - Via, From, To, Call-ID and CSeq present and well formed; the CSeq
//    number at most 2^31-1 and its method equal to the request's;
//  - Content-Length, if present, only digits and equal to the body received
//    when `datagram` (RFC 3261 §18.3: larger than the datagram is 400, a
//    shorter one truncates), at most the bytes given otherwise; absent on a
//    datagram means the rest; Max-Forwards digits only.
tl::expected<MessagePtr, ParseError> parse(std::string_view bytes, bool datagram);

// Stream framing (TCP/TLS, RFC 3261 §18.3 and RFC 5626 §3.5.1 keep-alives).
struct Frame {
  enum class Kind { incomplete, message, ping, pong, error };
  Kind kind = Kind::incomplete;
  std::size_t size = 0;  // bytes the frame takes at the front of the buffer
  std::string error;     // with Kind::error: why (the connection is closed)
};
// Looks at the front of `buffer`: a double CRLF is a ping (answer one CRLF),
// a lone CRLF is a pong; else a message whose header block ends with a blank
// line and whose body is Content-Length long (required on streams). Header
// blocks over kMaxMessage without an end, a bad or missing Content-Length:
// Kind::error.
Frame next_frame(std::string_view buffer);

std::string to_string(const osip_message_t& message);

// A response to `request`: Via (all), From, To (with `to_tag` added when
// given and To has none), Call-ID and CSeq copied, Content-Length: 0, and
// the standard reason phrase unless `reason` is given.
MessagePtr make_response(const osip_message_t& request, int status, std::string_view reason = {},
                         std::string_view to_tag = {});

// For a request parse() refused with a status: a response built from the raw
// text's Via, From, To, Call-ID and CSeq lines (To gets a tag), or "" when
// they cannot be found (then the request is dropped).
std::string error_response(std::string_view bytes, int status, std::string_view reason);

// The message's text with the values of Authorization and
// Proxy-Authorization replaced by "[redacted]" (for the packet log).
std::string redact(std::string_view text);

// The message's Call-ID, CSeq method, top Via branch: "" when absent.
std::string call_id(const osip_message_t& message);
std::string cseq_method(const osip_message_t& message);
std::string via_branch(const osip_message_t& message);

}  // namespace sotto::sip::wire
