// sotto::sdp: strict parsing, printing, and RFC 3264 offer/answer including
// hold (sendonly / inactive / c=0.0.0.0).
#include "sotto/sdp/sdp.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace sotto::sdp {
namespace {

// What linphonec 5.1 offers (trimmed), LF line ends accepted too.
constexpr std::string_view kLinphoneOffer =
    "v=0\r\n"
    "o=bob 1234 5678 IN IP4 127.0.0.1\r\n"
    "s=Talk\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:97 speex/16000\r\n"
    "a=fmtp:97 vbr=on\r\n"
    "a=rtpmap:98 speex/8000\r\n"
    "a=fmtp:98 vbr=on\r\n"
    "a=fmtp:18 annexb=yes\r\n"
    "a=rtpmap:101 telephone-event/48000\r\n"
    "a=rtpmap:99 telephone-event/16000\r\n"
    "a=rtpmap:100 telephone-event/8000\r\n"
    "a=rtcp-fb:* trr-int 1000\r\n"
    "a=rtcp-fb:* ccm tmmbr\r\n";

const std::string kHash = "1.10 " + std::string(64, 'a');

LocalMedia local(std::string address = "127.0.0.2", uint16_t port = 5004) {
  LocalMedia media;
  media.address = std::move(address);
  media.audio_port = port;
  return media;
}

// A minimal audio offer with the given extra media-level lines.
std::string offer_text(std::string_view media_lines, std::string_view formats = "0 8",
                       std::string_view connection = "127.0.0.1") {
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 " + std::string(connection) +
         "\r\nt=0 0\r\nm=audio 4000 RTP/AVP " + std::string(formats) + "\r\n" +
         std::string(media_lines);
}

TEST(Sdp, ParsesALinphoneOffer) {
  auto session = parse(kLinphoneOffer);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ(session->origin_user, "bob");
  EXPECT_EQ(session->session_id, 1234u);
  EXPECT_EQ(session->session_version, 5678u);
  EXPECT_EQ(session->address, "127.0.0.1");
  ASSERT_EQ(session->media.size(), 1u);
  const Media& audio = session->media[0];
  EXPECT_EQ(audio.port, 7078);
  ASSERT_EQ(audio.codecs.size(), 9u);
  EXPECT_EQ(audio.codecs[0], (Codec{96, "opus", 48000, 2, "useinbandfec=1"}));
  EXPECT_EQ(audio.codecs[3], (Codec{0, "PCMU", 8000, 1, ""}));  // static, no rtpmap
  EXPECT_EQ(audio.codecs[5], (Codec{18, "G729", 8000, 1, "annexb=yes"}));
  EXPECT_EQ(audio.codecs[8].name, "telephone-event");
  EXPECT_EQ(audio.direction, Direction::sendrecv);
  ASSERT_EQ(audio.other_attributes.size(), 2u);
  EXPECT_EQ(audio.other_attributes[0], "rtcp-fb:* trr-int 1000");
  ASSERT_EQ(session->other_attributes.size(), 1u);
  EXPECT_TRUE(session->other_attributes[0].starts_with("rtcp-xr:"));
}

TEST(Sdp, RoundTripsThroughToString) {
  auto first = parse(kLinphoneOffer);
  ASSERT_TRUE(first);
  const std::string text = to_string(*first);
  auto second = parse(text);
  ASSERT_TRUE(second) << second.error().message << "\n" << text;
  EXPECT_EQ(to_string(*second), text);
  EXPECT_EQ(second->media[0].codecs, first->media[0].codecs);
  EXPECT_NE(text.find("a=rtpmap:0 PCMU/8000\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("a=rtpmap:96 opus/48000/2\r\n"), std::string::npos);
}

TEST(Sdp, AnswersInTheOfferersOrderWithItsPayloadTypes) {
  auto offer = parse(kLinphoneOffer);
  ASSERT_TRUE(offer);
  auto result = make_answer(*offer, local(), Direction::sendrecv, 42, 1);
  ASSERT_TRUE(result) << result.error().message;
  const auto& [answer, negotiated] = *result;
  EXPECT_EQ(negotiated.codec.name, "opus");
  EXPECT_EQ(negotiated.codec.payload_type, 96);
  EXPECT_EQ(negotiated.telephone_event_type, 100);  // the 8000 Hz one
  EXPECT_EQ(negotiated.remote_address, "127.0.0.1");
  EXPECT_EQ(negotiated.remote_port, 7078);
  EXPECT_EQ(negotiated.direction, Direction::sendrecv);
  ASSERT_EQ(answer.media.size(), 1u);
  const Media& media = answer.media[0];
  EXPECT_EQ(media.port, 5004);
  ASSERT_EQ(media.codecs.size(), 4u);
  EXPECT_EQ(media.codecs[0].payload_type, 96);
  EXPECT_EQ(media.codecs[1].payload_type, 0);
  EXPECT_EQ(media.codecs[2].payload_type, 8);
  EXPECT_EQ(media.codecs[3].payload_type, 100);
  EXPECT_EQ(answer.session_id, 42u);
  // Printed and parsed by the offerer, the answer agrees.
  auto reread = parse(to_string(answer));
  ASSERT_TRUE(reread) << reread.error().message;
  auto seen = read_answer(*offer, *reread);
  ASSERT_TRUE(seen) << seen.error().message;
  EXPECT_EQ(seen->codec.name, "opus");
  EXPECT_EQ(seen->remote_address, "127.0.0.2");
  EXPECT_EQ(seen->remote_port, 5004);
  EXPECT_EQ(seen->telephone_event_type, 100);
}

TEST(Sdp, OfferAnswerBetweenTwoSottos) {
  LocalMedia alice = local("127.0.0.1", 4000);
  alice.zrtp_hash = kHash;
  LocalMedia bob = local("127.0.0.2", 6000);
  bob.codecs = {Codec{8, "PCMA", 8000, 1, {}}};
  const Session offer = make_offer(alice, Direction::sendrecv, 1, 1);
  auto parsed_offer = parse(to_string(offer));
  ASSERT_TRUE(parsed_offer) << parsed_offer.error().message << to_string(offer);
  EXPECT_EQ(parsed_offer->media[0].zrtp_hash, kHash);
  auto answer = make_answer(*parsed_offer, bob, Direction::sendrecv, 7, 1);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->second.codec.name, "PCMA");
  EXPECT_EQ(answer->second.remote_zrtp_hash, kHash);
  EXPECT_EQ(answer->second.telephone_event_type, 101);
  auto parsed_answer = parse(to_string(answer->first));
  ASSERT_TRUE(parsed_answer);
  auto negotiated = read_answer(offer, *parsed_answer);
  ASSERT_TRUE(negotiated) << negotiated.error().message;
  EXPECT_EQ(negotiated->codec.payload_type, 8);
  EXPECT_EQ(negotiated->remote_port, 6000);
  EXPECT_EQ(negotiated->direction, Direction::sendrecv);
  EXPECT_FALSE(negotiated->remote_zrtp_hash);
}

TEST(Sdp, HoldAndResume) {
  const LocalMedia alice = local("127.0.0.1", 4000);
  const LocalMedia bob = local("127.0.0.2", 6000);
  struct Case {
    Direction offered;
    Direction wanted;
    Direction answered;
  };
  for (const Case& c : {Case{Direction::sendonly, Direction::sendrecv, Direction::recvonly},
                        Case{Direction::inactive, Direction::sendrecv, Direction::inactive},
                        Case{Direction::recvonly, Direction::sendrecv, Direction::sendonly},
                        Case{Direction::sendrecv, Direction::sendonly, Direction::sendonly},
                        Case{Direction::sendonly, Direction::sendonly, Direction::inactive},
                        Case{Direction::sendrecv, Direction::sendrecv, Direction::sendrecv}}) {
    const Session offer = make_offer(alice, c.offered, 1, 2);
    auto parsed = parse(to_string(offer));
    ASSERT_TRUE(parsed);
    auto answer = make_answer(*parsed, bob, c.wanted, 1, 1);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->second.direction, c.answered)
        << to_string(c.offered) << "/" << to_string(c.wanted);
    auto reread = parse(to_string(answer->first));
    ASSERT_TRUE(reread);
    EXPECT_EQ(reread->media[0].direction, c.answered);
    auto negotiated = read_answer(offer, *reread);
    ASSERT_TRUE(negotiated);
    // The offerer ends up with the mirror image.
    EXPECT_EQ(negotiated->direction, answer_direction(c.answered, c.offered));
  }
}

TEST(Sdp, ZeroAddressIsHold) {
  auto offer = parse(offer_text("", "0", "0.0.0.0"));
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_EQ(media_address(*offer, offer->media[0]), "0.0.0.0");
  EXPECT_EQ(effective_direction(*offer, offer->media[0]), Direction::sendonly);
  auto answer = make_answer(*offer, local(), Direction::sendrecv, 1, 1);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->second.direction, Direction::recvonly);
}

TEST(Sdp, SessionLevelDirectionApplies) {
  auto offer = parse(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=sendonly\r\n"
      "m=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\na=inactive\r\n");
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_EQ(offer->direction, Direction::sendonly);
  EXPECT_EQ(effective_direction(*offer, offer->media[0]), Direction::sendonly);
  EXPECT_EQ(effective_direction(*offer, offer->media[1]), Direction::inactive);
}

TEST(Sdp, NoUsableCodecIsNotSupported) {
  auto offer = parse(offer_text("a=rtpmap:97 speex/8000\r\n", "18 97"));
  ASSERT_TRUE(offer) << offer.error().message;
  auto answer = make_answer(*offer, local(), Direction::sendrecv, 1, 1);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, Errc::not_supported);

  // telephone-event alone is not a codec.
  auto dtmf_only = parse(offer_text("a=rtpmap:101 telephone-event/8000\r\n", "101"));
  ASSERT_TRUE(dtmf_only);
  EXPECT_EQ(make_answer(*dtmf_only, local(), Direction::sendrecv, 1, 1).error().code,
            Errc::not_supported);

  auto video_only = parse(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=video 4000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n");
  ASSERT_TRUE(video_only);
  EXPECT_EQ(make_answer(*video_only, local(), Direction::sendrecv, 1, 1).error().code,
            Errc::not_supported);
}

TEST(Sdp, OtherStreamsAreRefusedWithPortZero) {
  auto offer = parse(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
      "m=audio 4000 RTP/AVP 0\r\n"
      "m=application 5000 UDP/BFCP *\r\n");
  ASSERT_TRUE(offer) << offer.error().message;
  auto answer = make_answer(*offer, local(), Direction::sendrecv, 1, 1);
  ASSERT_TRUE(answer) << answer.error().message;
  const std::string text = to_string(answer->first);
  EXPECT_NE(text.find("m=video 0 RTP/AVP 96\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("m=audio 5004 RTP/AVP 0"), std::string::npos) << text;
  EXPECT_NE(text.find("m=application 0 UDP/BFCP *\r\n"), std::string::npos) << text;
  auto reread = parse(text);
  ASSERT_TRUE(reread) << reread.error().message;
  EXPECT_TRUE(read_answer(*offer, *reread));
}

TEST(Sdp, ZrtpHash) {
  EXPECT_TRUE(valid_zrtp_hash(kHash));
  EXPECT_TRUE(valid_zrtp_hash("1.10 " + std::string(64, 'F')));
  EXPECT_FALSE(valid_zrtp_hash("1.10 " + std::string(63, 'a')));
  EXPECT_FALSE(valid_zrtp_hash("1.10 " + std::string(65, 'a')));
  EXPECT_FALSE(valid_zrtp_hash("1.10 " + std::string(63, 'a') + "g"));
  EXPECT_FALSE(valid_zrtp_hash("1.1 " + std::string(64, 'a')));
  EXPECT_FALSE(valid_zrtp_hash(""));

  auto upper = parse(offer_text("a=zrtp-hash:1.10 " + std::string(64, 'B') + "\r\n"));
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->media[0].zrtp_hash, "1.10 " + std::string(64, 'b'));

  auto bogus = parse(offer_text("a=zrtp-hash:1.10 nothex\r\n"));
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().code, Errc::protocol);

  // Built by hand (not through parse): make_answer checks too.
  auto offer = parse(offer_text(""));
  ASSERT_TRUE(offer);
  offer->media[0].zrtp_hash = "bogus";
  auto answer = make_answer(*offer, local(), Direction::sendrecv, 1, 1);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code, Errc::protocol);
}

TEST(Sdp, RefusesMalformedInput) {
  const std::string good = offer_text("");
  ASSERT_TRUE(parse(good));
  const std::string many_media = [] {
    std::string text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
    for (int i = 0; i < 17; ++i)
      text += "m=audio " + std::to_string(4000 + 2 * i) + " RTP/AVP 0\r\n";
    return text;
  }();
  std::string many_formats = "m=audio 4000 RTP/AVP";
  for (int i = 0; i < 129; ++i) many_formats += " " + std::to_string(i % 128);
  const std::string cases[] = {
      "",
      "v=1\r\n",
      "o=- 1 1 IN IP4 127.0.0.1\r\nv=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",
      "v=0\r\ns=-\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n",
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",  // no m=
      offer_text("", "0").replace(good.find("4000"), 4, "notaport"),
      offer_text("", "0").replace(good.find("4000"), 4, "70000"),
      offer_text("", "0").replace(good.find("4000"), 4, "-1"),
      offer_text("", "128"),
      offer_text("", "0 abc"),
      offer_text("", "0 0"),
      offer_text("a=rtpmap:97 speex/8000\r\n"),  // 97 not on the m= line
      offer_text("a=rtpmap:0 PCMU/0\r\n"),
      offer_text("a=rtpmap:0 PCMU\r\n"),
      offer_text("a=rtpmap:0 PCMU/8000\r\na=rtpmap:0 PCMU/8000\r\n"),
      offer_text("a=fmtp:99 x=1\r\n"),
      offer_text("a=rtcp:port\r\n"),
      offer_text("a=ptime:x\r\n"),
      offer_text("a=sendonly\r\na=recvonly\r\n"),
      offer_text("t=0 0\r\n"),  // t= inside media
      offer_text("x=unknown\r\n"),
      offer_text("garbage\r\n"),
      offer_text("a=tool\x01x\r\n"),
      offer_text("\r\nc=IN IP4 127.0.0.1\r\n"),
      offer_text("c=IN IP4 a b\r\n"),
      offer_text("c=IN IP5 127.0.0.1\r\n"),
      offer_text("c=IN IP4 127.0.0.1\r\nc=IN IP4 127.0.0.1\r\n"),
      "v=0\r\no=- x 1 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",
      "v=0\r\no=- 1 99999999999999999999 IN IP4 127.0.0.1\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",
      "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",
      many_media,
      good + many_formats + "\r\n",
      good + "a=x:" + std::string(70000, 'a') + "\r\n",
  };
  for (const auto& text : cases) {
    auto session = parse(text);
    EXPECT_FALSE(session) << text.substr(0, 300);
    if (!session) {
      EXPECT_EQ(session.error().code, Errc::protocol);
    }
  }
}

TEST(Sdp, SixteenMediaLinesAreFine) {
  std::string text = "v=0\n\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n";
  text.erase(4, 1);  // LF line ends
  for (int i = 0; i < 16; ++i) text += "m=audio " + std::to_string(4000 + 2 * i) + " RTP/AVP 0\n";
  auto session = parse(text);
  ASSERT_TRUE(session) << session.error().message;
  EXPECT_EQ(session->media.size(), 16u);
}

TEST(Sdp, ReadAnswerErrors) {
  const Session offer = make_offer(local("127.0.0.1", 4000), Direction::sendrecv, 1, 1);
  auto wrong_codec = parse(offer_text("a=rtpmap:97 speex/8000\r\n", "97"));
  ASSERT_TRUE(wrong_codec);
  EXPECT_EQ(read_answer(offer, *wrong_codec).error().code, Errc::protocol);

  auto two = parse(offer_text("m=audio 0 RTP/AVP 0\r\n"));
  ASSERT_TRUE(two);
  EXPECT_EQ(read_answer(offer, *two).error().code, Errc::protocol);

  auto refused = parse(offer_text("").replace(offer_text("").find("4000"), 4, "0"));
  ASSERT_TRUE(refused);
  EXPECT_FALSE(read_answer(offer, *refused));
}

}  // namespace
}  // namespace sotto::sdp
