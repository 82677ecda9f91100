// sotto::sip::wire: strict parsing of SIP messages over libosip2, stream
// framing, responses built from requests and from raw bad requests.
#include "sotto/sip/wire.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <osipparser2/osip_parser.h>

namespace sotto::sip::wire {
namespace {

constexpr std::string_view kSdp =
    "v=0\r\n"
    "o=bob 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n";

// An INVITE with `extra` header lines inserted before Content-Length and
// the given Content-Length value ("" for none).
std::string invite(std::string_view extra = {}, std::string_view content_length = "auto",
                   std::string_view body = kSdp) {
  std::string text =
      "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: \"Alice\" <sip:alice@127.0.0.1>;tag=a1\r\n"
      "To: <sip:bob@127.0.0.1>\r\n"
      "Call-ID: call-1@127.0.0.1\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:alice@127.0.0.1:5070>\r\n"
      "Content-Type: application/sdp\r\n";
  text += extra;
  if (content_length == "auto") {
    text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  } else if (!content_length.empty()) {
    text += "Content-Length: " + std::string(content_length) + "\r\n";
  }
  text += "\r\n";
  text += body;
  return text;
}

// `text` with the first line starting with `prefix` removed.
std::string without_line(std::string text, std::string_view prefix) {
  const auto at = text.find("\r\n" + std::string(prefix));
  if (at == std::string::npos) return text;
  const auto end = text.find("\r\n", at + 2);
  text.erase(at, end - at);
  return text;
}

std::string body_of(const osip_message_t& message) {
  osip_body_t* body = nullptr;
  if (osip_message_get_body(&message, 0, &body) < 0 || body == nullptr) return {};
  return std::string(body->body, body->length);
}

TEST(SipWire, ParsesAnInviteWithItsBody) {
  auto message = parse(invite(), true);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_TRUE(MSG_IS_REQUEST(message->get()));
  EXPECT_EQ(call_id(**message), "call-1@127.0.0.1");
  EXPECT_EQ(cseq_method(**message), "INVITE");
  EXPECT_EQ(via_branch(**message), "z9hG4bK-abc");
  EXPECT_EQ(body_of(**message), kSdp);
}

TEST(SipWire, ParsesAResponse) {
  const std::string text =
      "SIP/2.0 401 Unauthorized\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-r1;rport=5070;received=127.0.0.1\r\n"
      "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
      "To: <sip:alice@127.0.0.1>;tag=srv\r\n"
      "Call-ID: reg-1\r\n"
      "CSeq: 7 REGISTER\r\n"
      "WWW-Authenticate: Digest realm=\"127.0.0.1\", nonce=\"abc\", qop=\"auth\"\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  auto message = parse(text, false);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ((*message)->status_code, 401);
  EXPECT_EQ(cseq_method(**message), "REGISTER");
}

TEST(SipWire, CompactHeadersAndLeadingLineBreaks) {
  const std::string text =
      "\r\nMESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
      "v: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-m\r\n"
      "f: <sip:alice@127.0.0.1>;tag=x\r\n"
      "t: <sip:bob@127.0.0.1>\r\n"
      "i: m-1\r\n"
      "CSeq: 2 MESSAGE\r\n"
      "c: text/plain\r\n"
      "l: 2\r\n"
      "\r\n"
      "hi";
  auto message = parse(text, false);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(call_id(**message), "m-1");
  EXPECT_EQ(body_of(**message), "hi");
}

TEST(SipWire, RequestWithoutCallIdOrCSeqIsDropped) {
  for (std::string_view header : {"Call-ID:", "CSeq:"}) {
    auto message = parse(without_line(invite(), header), true);
    ASSERT_FALSE(message) << header;
    // Nothing to build a response from: drop, but say why for the log.
    EXPECT_EQ(message.error().status, 0) << header;
    EXPECT_NE(message.error().reason.find("Missing"), std::string::npos) << header;
    EXPECT_EQ(error_response(without_line(invite(), header), 400, "Bad"), "") << header;
  }
}

TEST(SipWire, CSeqMethodMismatchIs400) {
  std::string text = invite();
  text.replace(text.find("CSeq: 1 INVITE"), 14, "CSeq: 1 BYE");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 400);
}

TEST(SipWire, CSeqNumberOutOfRangeIs400) {
  std::string text = invite();
  text.replace(text.find("CSeq: 1 INVITE"), 14, "CSeq: 2147483648 INVITE");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 400);
}

TEST(SipWire, ContentLengthLargerThanDatagramIs400AndNextMessageParses) {
  const std::string bad = invite({}, "5000");
  auto refused = parse(bad, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().status, 400);
  const std::string answer = error_response(bad, refused.error().status, refused.error().reason);
  EXPECT_TRUE(answer.starts_with("SIP/2.0 400 ")) << answer;
  // The same source keeps being served: no state carries over.
  auto good = parse(invite(), true);
  ASSERT_TRUE(good) << good.error().reason;
}

TEST(SipWire, BadContentLengthValuesAre400) {
  for (std::string_view value : {"-5", "abc", "99999999999999999999", "1 2", "+5", "0x10"}) {
    const std::string text = invite({}, value);
    auto message = parse(text, true);
    ASSERT_FALSE(message) << value;
    EXPECT_EQ(message.error().status, 400) << value;
  }
}

TEST(SipWire, ShorterContentLengthTruncatesTheBody) {
  auto message = parse(invite({}, "9"), true);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(body_of(**message), "v=0\r\no=bo");
}

TEST(SipWire, NoContentLengthOnADatagramTakesTheRest) {
  auto message = parse(invite({}, ""), true);
  ASSERT_TRUE(message) << message.error().reason;
  EXPECT_EQ(body_of(**message), kSdp);
}

TEST(SipWire, GarbageRequestLineIs400OrDropped) {
  std::string text = invite();
  text.replace(0, text.find("\r\n"), "HELLO WORLD");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 400);

  auto junk = parse("\x01\x02garbage\r\n\r\n", true);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().status, 0);
}

TEST(SipWire, OtherSipVersionIs505) {
  std::string text = invite();
  text.replace(text.find("SIP/2.0\r\n"), 7, "SIP/3.0");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 505);
  const std::string answer = error_response(text, 505, message.error().reason);
  EXPECT_TRUE(answer.starts_with("SIP/2.0 505 ")) << answer;
}

TEST(SipWire, HugeHeaderIsRefusedAsTooLarge) {
  const std::string big = "X-Filler: " + std::string(64 * 1024, 'a') + "\r\n";
  const std::string text = invite(big);
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 413);
  const std::string answer = error_response(text, 413, message.error().reason);
  EXPECT_TRUE(answer.starts_with("SIP/2.0 413 ")) << answer;

  // A line over 8 kB inside a message under the limit.
  auto long_line = parse(invite("X-Filler: " + std::string(9000, 'a') + "\r\n"), true);
  ASSERT_FALSE(long_line);
  EXPECT_EQ(long_line.error().status, 413);
}

TEST(SipWire, DuplicateSingleHeadersAre400) {
  auto message = parse(invite("Call-ID: other\r\n"), true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 0);  // which Call-ID to answer? drop
  auto lengths = parse(invite("Content-Length: 3\r\n"), true);
  ASSERT_FALSE(lengths);
  EXPECT_EQ(lengths.error().status, 400);
}

TEST(SipWire, BadMaxForwardsIs400) {
  std::string text = invite();
  text.replace(text.find("Max-Forwards: 70"), 16, "Max-Forwards: -1");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 400);
}

TEST(SipWire, BrokenResponsesAreDropped) {
  auto message = parse("SIP/2.0 99 Odd\r\nCall-ID: x\r\n\r\n", true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 0);
  auto version = parse("SIP/3.0 200 OK\r\n\r\n", true);
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().status, 0);
}

TEST(SipWire, BadAckIsNeverAnswered) {
  std::string text = invite({}, "999");
  text.replace(0, 6, "ACK");
  text.replace(text.find("CSeq: 1 INVITE"), 14, "CSeq: 1 ACK");
  auto message = parse(text, true);
  ASSERT_FALSE(message);
  EXPECT_EQ(message.error().status, 0);
  EXPECT_EQ(error_response(text, 400, "Bad"), "");
}

TEST(SipWire, ErrorResponseCopiesTheDialogHeaders) {
  const std::string text = invite({}, "abc");
  const std::string answer = error_response(text, 400, "Bad Content-Length\r\nX: injected");
  EXPECT_TRUE(answer.starts_with("SIP/2.0 400 Bad Content-Length  X: injected\r\n")) << answer;
  EXPECT_NE(answer.find("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport\r\n"),
            std::string::npos);
  EXPECT_NE(answer.find("From: \"Alice\" <sip:alice@127.0.0.1>;tag=a1\r\n"), std::string::npos);
  EXPECT_NE(answer.find("To: <sip:bob@127.0.0.1>;tag="), std::string::npos);
  EXPECT_NE(answer.find("Call-ID: call-1@127.0.0.1\r\n"), std::string::npos);
  EXPECT_NE(answer.find("CSeq: 1 INVITE\r\n"), std::string::npos);
  EXPECT_TRUE(answer.ends_with("Content-Length: 0\r\n\r\n"));
  // And it is a message our own parser accepts.
  auto parsed = parse(answer, true);
  ASSERT_TRUE(parsed) << parsed.error().reason;
  EXPECT_EQ((*parsed)->status_code, 400);
}

TEST(SipWire, MakeResponseCopiesHeadersAndAddsTheTag) {
  auto request = parse(invite(), true);
  ASSERT_TRUE(request);
  auto response = make_response(**request, 180, {}, "bob-tag");
  ASSERT_TRUE(response);
  const std::string text = to_string(*response);
  EXPECT_TRUE(text.starts_with("SIP/2.0 180 Ringing\r\n")) << text;
  auto reparsed = parse(text, true);
  ASSERT_TRUE(reparsed) << reparsed.error().reason << "\n" << text;
  EXPECT_EQ(call_id(**reparsed), "call-1@127.0.0.1");
  EXPECT_EQ(via_branch(**reparsed), "z9hG4bK-abc");
  EXPECT_EQ(cseq_method(**reparsed), "INVITE");
  osip_generic_param_t* tag = nullptr;
  ASSERT_EQ(osip_to_get_tag((*reparsed)->to, &tag), OSIP_SUCCESS);
  EXPECT_STREQ(tag->gvalue, "bob-tag");
  EXPECT_NE(text.find("Content-Length: 0"), std::string::npos);

  auto custom = make_response(**request, 486, "Busy Here Now");
  EXPECT_TRUE(to_string(*custom).starts_with("SIP/2.0 486 Busy Here Now\r\n"));
}

TEST(SipWire, ToStringReflectsChangesAfterParse) {
  auto request = parse(invite(), true);
  ASSERT_TRUE(request);
  osip_to_set_tag((*request)->to, osip_strdup("later"));
  EXPECT_NE(to_string(**request).find("tag=later"), std::string::npos);
}

TEST(SipWire, StreamFraming) {
  const std::string one = invite();
  const std::string two = without_line(invite(), "Content-Type:");
  std::string buffer = "\r\n\r\n" + one + "\r\n" + two;
  auto frame = next_frame(buffer);
  EXPECT_EQ(frame.kind, Frame::Kind::ping);
  EXPECT_EQ(frame.size, 4u);
  buffer.erase(0, frame.size);

  // Byte by byte, a message is incomplete until its last body byte.
  for (std::size_t n = 0; n < one.size(); ++n) {
    ASSERT_EQ(next_frame(std::string_view(buffer).substr(0, n)).kind, Frame::Kind::incomplete) << n;
  }
  frame = next_frame(buffer);
  ASSERT_EQ(frame.kind, Frame::Kind::message);
  EXPECT_EQ(frame.size, one.size());
  EXPECT_TRUE(parse(std::string_view(buffer).substr(0, frame.size), false));
  buffer.erase(0, frame.size);

  frame = next_frame(buffer);
  EXPECT_EQ(frame.kind, Frame::Kind::pong);
  buffer.erase(0, frame.size);
  frame = next_frame(buffer);
  ASSERT_EQ(frame.kind, Frame::Kind::message);
  EXPECT_EQ(frame.size, two.size());
}

TEST(SipWire, StreamFramingErrors) {
  EXPECT_EQ(next_frame(invite({}, "")).kind, Frame::Kind::error);  // required on streams
  EXPECT_EQ(next_frame(invite({}, "-5")).kind, Frame::Kind::error);
  EXPECT_EQ(next_frame(invite({}, "99999999999")).kind, Frame::Kind::error);
  EXPECT_EQ(next_frame(invite({}, "70000")).kind, Frame::Kind::error);
  EXPECT_EQ(next_frame(std::string(kMaxMessage + 1, 'a')).kind, Frame::Kind::error);
  EXPECT_EQ(next_frame(std::string(100, 'a')).kind, Frame::Kind::incomplete);
  EXPECT_EQ(next_frame("\r\n\r").kind, Frame::Kind::incomplete);
  EXPECT_EQ(next_frame("\nX").kind, Frame::Kind::error);
}

TEST(SipWire, RedactsAuthorizationValues) {
  const std::string text = invite(
      "Authorization: Digest username=\"alice\", response=\"secret1\"\r\n"
      "proxy-authorization : Digest username=\"alice\",\r\n  response=\"secret2\"\r\n");
  const std::string redacted = redact(text);
  EXPECT_EQ(redacted.find("secret1"), std::string::npos);
  EXPECT_EQ(redacted.find("secret2"), std::string::npos);
  EXPECT_NE(redacted.find("Authorization: [redacted]\r\n"), std::string::npos) << redacted;
  EXPECT_NE(redacted.find("proxy-authorization : [redacted]\r\nContent-Length"), std::string::npos)
      << redacted;
  EXPECT_NE(redacted.find("Call-ID: call-1@127.0.0.1\r\n"), std::string::npos);
}

TEST(SipWire, MalformedDialogHeadersAre400) {
  const std::string good = invite();
  for (auto [from, to] :
       {std::pair<std::string_view, std::string_view>{
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-abc;rport", "Via: nonsense"},
        {"Via: SIP/2.0/UDP 127.0.0.1:5070;", "Via: SIP/2.0/UDP 127.0.0.1:99999;"},
        {"From: \"Alice\" <sip:alice@127.0.0.1>", "From: <<<"},
        {"To: <sip:bob@127.0.0.1>", "To: \"unterminated <sip:bob@x>"},
        {"INVITE sip:bob@127.0.0.1 SIP", "INVITE bob SIP"}}) {
    std::string text = good;
    text.replace(text.find(from), from.size(), to);
    auto message = parse(text, true);
    EXPECT_FALSE(message) << to;
    if (!message) {
      EXPECT_EQ(message.error().status, 400) << to << ": " << message.error().reason;
    }
  }
}

TEST(SipWire, LibosipErrorsDoNotReachTheTerminal) {
  std::string text = invite();
  text.replace(text.find("Via: SIP/2.0/UDP"), 16, "Via: nonsense");
  testing::internal::CaptureStderr();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(parse(text, true));
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace sotto::sip::wire
