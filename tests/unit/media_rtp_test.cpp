// sotto::media RTP layer: RTP/RTCP/RFC 4733 parsing and writing, the
// demultiplexing of the media port, and RtpSession's statistics (loss,
// jitter, RTT) on scripted sequences with a fake clock.
#include "sotto/media/rtp.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sotto::media {
namespace {

constexpr uint32_t kClockRate = 8000;
constexpr int64_t kFrameUs = 20'000;
constexpr uint32_t kFrameTicks = 160;
constexpr int64_t kWallUs = 1'790'000'000'000'000;  // some wall-clock time in 2026

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int value : values) out.push_back(static_cast<uint8_t>(value));
  return out;
}

RtpPacket rtp(uint16_t sequence, uint32_t timestamp, uint32_t ssrc = 0x1234) {
  RtpPacket packet;
  packet.sequence = sequence;
  packet.timestamp = timestamp;
  packet.ssrc = ssrc;
  return packet;
}

// Feeds packets with these sequence numbers, one per 20 ms frame (timestamp
// follows the sequence number, as a sender's would).
void feed(RtpSession& session, const std::vector<int>& sequences, int64_t& now_us) {
  for (int sequence : sequences) {
    const auto seq = static_cast<uint16_t>(sequence);
    ASSERT_TRUE(session.received(rtp(seq, seq * kFrameTicks), now_us));
    now_us += kFrameUs;
  }
}

std::vector<int> range(int first, int last) {
  std::vector<int> out;
  for (int i = first; i <= last; ++i) out.push_back(i);
  return out;
}

RtcpPacket parsed_rtcp(const Bytes& datagram) {
  auto parsed = parse_rtcp(datagram);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed ? *parsed : RtcpPacket{};
}

// --- classify

TEST(MediaRtpClassify, TellsTheProtocolsOnTheMediaPortApart) {
  const Bytes zrtp = bytes({0x10, 0, 0, 1, 0x5A, 0x52, 0x54, 0x50, 1, 2, 3, 4, 0x50, 0x5A});
  EXPECT_EQ(classify(zrtp), PacketKind::zrtp);
  EXPECT_EQ(classify(write_rtp(0, false, 1, 2, 3, {})), PacketKind::rtp);
  EXPECT_EQ(classify(write_rtp(96, true, 1, 2, 3, Bytes(160))), PacketKind::rtp);
  EXPECT_EQ(classify(write_rtcp(7, std::nullopt, {}, "a@b")), PacketKind::rtcp);
  EXPECT_EQ(classify(write_rtcp(7, SenderInfo{}, {}, "a@b")), PacketKind::rtcp);
  EXPECT_EQ(classify({}), PacketKind::garbage);
  EXPECT_EQ(classify(bytes({0x80, 0})), PacketKind::garbage);  // too short
  EXPECT_EQ(classify(Bytes(20, 0x40)), PacketKind::garbage);   // version 1
  EXPECT_EQ(classify(bytes({0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4})),
            PacketKind::garbage);  // STUN
  Bytes zrtp_bad_cookie = zrtp;
  zrtp_bad_cookie[7] = 0;
  EXPECT_EQ(classify(zrtp_bad_cookie), PacketKind::garbage);
}

// --- RTP

TEST(MediaRtpParse, WrittenPacketsReadBack) {
  const Bytes payload = bytes({1, 2, 3, 4, 5});
  const Bytes datagram = write_rtp(111, true, 65535, 0xDEADBEEF, 0xCAFEBABE, payload);
  ASSERT_EQ(datagram.size(), 12u + payload.size());
  auto packet = parse_rtp(datagram);
  ASSERT_TRUE(packet) << packet.error().message;
  EXPECT_EQ(packet->payload_type, 111);
  EXPECT_TRUE(packet->marker);
  EXPECT_EQ(packet->sequence, 65535);
  EXPECT_EQ(packet->timestamp, 0xDEADBEEF);
  EXPECT_EQ(packet->ssrc, 0xCAFEBABE);
  EXPECT_EQ(Bytes(packet->payload.begin(), packet->payload.end()), payload);

  auto empty = parse_rtp(write_rtp(0, false, 0, 0, 0, {}));
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->marker);
  EXPECT_TRUE(empty->payload.empty());
}

TEST(MediaRtpParse, SkipsCsrcsExtensionAndPadding) {
  // V=2 P X CC=2, PT 0, two CSRCs, a one-word extension, 2 payload bytes, 3 of
  // padding.
  const Bytes datagram = bytes({0xB2, 0x00, 0x00, 0x07, 0,    0,    0, 9, 0, 0, 0, 5,  //
                                1,    1,    1,    1,    2,    2,    2, 2,              // CSRCs
                                0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0, 0,              // extension
                                0x42, 0x43,                                            // payload
                                0,    0,    3});
  auto packet = parse_rtp(datagram);
  ASSERT_TRUE(packet) << packet.error().message;
  EXPECT_EQ(packet->sequence, 7);
  EXPECT_EQ(packet->ssrc, 5u);
  EXPECT_EQ(Bytes(packet->payload.begin(), packet->payload.end()), bytes({0x42, 0x43}));
}

TEST(MediaRtpParse, RefusesMalformedPackets) {
  const Bytes good = write_rtp(0, false, 1, 2, 3, bytes({9, 9, 9, 9}));
  auto refused = [](Bytes datagram) { return !parse_rtp(datagram).has_value(); };

  EXPECT_TRUE(refused(Bytes(good.begin(), good.begin() + 11))) << "truncated header";
  Bytes v1 = good;
  v1[0] = 0x40;
  EXPECT_TRUE(refused(v1)) << "version 1";
  Bytes csrcs = good;
  csrcs[0] = 0x82;  // two CSRCs = 8 bytes, only 4 follow
  EXPECT_TRUE(refused(csrcs)) << "CSRC count past the end";
  Bytes no_extension_header = good;
  no_extension_header[0] = 0x90;
  no_extension_header.resize(14);
  EXPECT_TRUE(refused(no_extension_header)) << "extension header truncated";
  Bytes extension = good;
  extension[0] = 0x90;  // the 4 payload bytes become the header: length 0x0909 words
  EXPECT_TRUE(refused(extension)) << "extension length past the end";
  Bytes padding = good;
  padding[0] = 0xA0;
  padding.back() = 5;  // 5 bytes of padding in a 4-byte payload
  EXPECT_TRUE(refused(padding)) << "padding larger than the payload";
  padding.back() = 0;
  EXPECT_TRUE(refused(padding)) << "zero padding byte";
  Bytes header_only = write_rtp(0, false, 1, 2, 3, {});
  header_only[0] = 0xA0;
  EXPECT_TRUE(refused(header_only)) << "padding with no byte to hold its length";

  padding.back() = 4;  // all of the payload is padding: fine, and empty
  auto all_padding = parse_rtp(padding);
  ASSERT_TRUE(all_padding);
  EXPECT_TRUE(all_padding->payload.empty());
}

// --- RTCP

TEST(MediaRtpRtcp, SenderReportWithBlocksReadsBack) {
  SenderInfo sender{ntp_from_unix_micros(kWallUs), 123456, 50, 8000};
  ReportBlock first{0xAAAA, 26, -3, 70000, 80, 0x12345678, 65536};
  ReportBlock second{0xBBBB, 255, 0x7FFFFF, 1, 0, 0, 0};
  const Bytes datagram = write_rtcp(0x77, sender, {first, second}, "alice@example.org");
  ASSERT_EQ(datagram.size() % 4, 0u);
  const RtcpPacket packet = parsed_rtcp(datagram);
  EXPECT_EQ(packet.ssrc, 0x77u);
  ASSERT_TRUE(packet.sender);
  EXPECT_EQ(packet.sender->ntp_time, sender.ntp_time);
  EXPECT_EQ(packet.sender->rtp_timestamp, 123456u);
  EXPECT_EQ(packet.sender->packet_count, 50u);
  EXPECT_EQ(packet.sender->octet_count, 8000u);
  EXPECT_FALSE(packet.bye);
  ASSERT_EQ(packet.reports.size(), 2u);
  const ReportBlock& block = packet.reports[0];
  EXPECT_EQ(block.ssrc, 0xAAAAu);
  EXPECT_EQ(block.fraction_lost, 26);
  EXPECT_EQ(block.cumulative_lost, -3);
  EXPECT_EQ(block.highest_sequence, 70000u);
  EXPECT_EQ(block.jitter, 80u);
  EXPECT_EQ(block.last_sr, 0x12345678u);
  EXPECT_EQ(block.delay_since_last_sr, 65536u);
  EXPECT_EQ(packet.reports[1].cumulative_lost, 0x7FFFFF);
  EXPECT_EQ(packet.reports[1].fraction_lost, 255);

  const std::string text(datagram.begin(), datagram.end());
  EXPECT_NE(text.find("alice@example.org"), std::string::npos) << "SDES CNAME";
}

TEST(MediaRtpRtcp, ReceiverReportByeAndClampedLoss) {
  ReportBlock huge{1, 0, -100'000'000, 0, 0, 0, 0};
  const RtcpPacket rr = parsed_rtcp(write_rtcp(5, std::nullopt, {huge}, "x"));
  EXPECT_EQ(rr.ssrc, 5u);
  EXPECT_FALSE(rr.sender);
  ASSERT_EQ(rr.reports.size(), 1u);
  EXPECT_EQ(rr.reports[0].cumulative_lost, -0x800000) << "24-bit field saturates";

  const RtcpPacket bye = parsed_rtcp(write_rtcp_bye(9, "bob@example.org"));
  EXPECT_TRUE(bye.bye);
  EXPECT_EQ(bye.ssrc, 9u);

  // A lone BYE (no report first) still names its sender.
  const RtcpPacket lone = parsed_rtcp(bytes({0x81, 203, 0, 1, 0, 0, 0, 42}));
  EXPECT_TRUE(lone.bye);
  EXPECT_EQ(lone.ssrc, 42u);
}

TEST(MediaRtpRtcp, SkipsUnknownPacketTypes) {
  Bytes datagram = bytes({0x80, 204, 0, 2, 0, 0, 0, 1, 'n', 'a', 'm', 'e'});  // APP
  const Bytes rr = write_rtcp(3, std::nullopt, {ReportBlock{4, 1, 2, 3, 4, 5, 6}}, "c");
  datagram.insert(datagram.end(), rr.begin(), rr.end());
  const Bytes feedback = bytes({0x81, 205, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4});  // RTPFB
  datagram.insert(datagram.end(), feedback.begin(), feedback.end());
  const RtcpPacket packet = parsed_rtcp(datagram);
  EXPECT_EQ(packet.ssrc, 3u);
  ASSERT_EQ(packet.reports.size(), 1u);
  EXPECT_EQ(packet.reports[0].ssrc, 4u);
}

TEST(MediaRtpRtcp, RefusesMalformedCompounds) {
  const Bytes good = write_rtcp(3, SenderInfo{}, {ReportBlock{}}, "c");
  ASSERT_TRUE(parse_rtcp(good));
  auto refused = [](Bytes datagram) { return !parse_rtcp(datagram).has_value(); };

  EXPECT_TRUE(refused({})) << "empty";
  EXPECT_TRUE(refused(Bytes(good.begin(), good.end() - 4))) << "SDES length past the end";
  Bytes long_length = good;
  long_length[2] = 0xFF;
  EXPECT_TRUE(refused(long_length)) << "RTCP length past the end";
  Bytes version = good;
  version[0] = 0x41;
  EXPECT_TRUE(refused(version)) << "version 1";
  Bytes second_version = good;
  second_version[(good[3] + 1) * 4] &= 0x3F;  // the SDES part: version 0
  EXPECT_TRUE(refused(second_version)) << "version wrong in the second part";
  Bytes trailing = good;
  trailing.insert(trailing.end(), {0x80, 201});
  EXPECT_TRUE(refused(trailing)) << "truncated header after a good part";
  EXPECT_TRUE(refused(bytes({0x81, 201, 0, 1, 0, 0, 0, 3}))) << "report block past its length";
  EXPECT_TRUE(refused(bytes({0xA0, 201, 0, 1, 0, 0, 0, 0}))) << "zero padding";
  EXPECT_TRUE(refused(bytes({0xA0, 201, 0, 1, 0, 0, 0, 8}))) << "padding past the header";
  EXPECT_TRUE(refused(bytes({0x81, 203, 0, 0}))) << "BYE without its SSRC";
}

TEST(MediaRtpRtcp, NtpTimeFromUnixTime) {
  EXPECT_EQ(ntp_from_unix_micros(0), uint64_t{2'208'988'800} << 32);
  EXPECT_EQ(ntp_from_unix_micros(1'500'000), (uint64_t{2'208'988'801} << 32) | 0x80000000);
  EXPECT_EQ(ntp_from_unix_micros(-500'000), (uint64_t{2'208'988'799} << 32) | 0x80000000);
  EXPECT_LT(ntp_from_unix_micros(kWallUs), ntp_from_unix_micros(kWallUs + 1));
}

// --- RFC 4733

TEST(MediaRtpTelephoneEvent, ReadsBackAndMapsDigits) {
  const TelephoneEvent event{11, true, 10, 1600};
  const Bytes payload = write_telephone_event(event);
  EXPECT_EQ(payload, bytes({11, 0x8A, 0x06, 0x40}));
  auto parsed = parse_telephone_event(payload);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->event, 11);
  EXPECT_TRUE(parsed->end);
  EXPECT_EQ(parsed->volume, 10);
  EXPECT_EQ(parsed->duration, 1600);
  EXPECT_FALSE(parse_telephone_event(bytes({1, 2, 3})));

  const std::string digits = "0123456789*#ABCD";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    EXPECT_EQ(dtmf_event(digits[i]), static_cast<uint8_t>(i)) << digits[i];
    EXPECT_EQ(dtmf_digit(static_cast<uint8_t>(i)), digits[i]);
  }
  EXPECT_EQ(dtmf_event('d'), 15);
  EXPECT_EQ(dtmf_event('E'), std::nullopt);
  EXPECT_EQ(dtmf_event(' '), std::nullopt);
  EXPECT_EQ(dtmf_digit(16), '?');
  EXPECT_EQ(dtmf_digit(255), '?');
}

// --- RtpSession

TEST(MediaRtpSession, SendsNumberedPacketsAndSenderReports) {
  RtpSession session(0x01020304, kClockRate, "me@example.org");
  const Bytes first_datagram = session.packet(0, true, 1000, Bytes(160));
  const Bytes second_datagram = session.packet(0, false, 1160, Bytes(160));
  auto first = parse_rtp(first_datagram);
  auto second = parse_rtp(second_datagram);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->ssrc, 0x01020304u);
  EXPECT_TRUE(first->marker);
  EXPECT_EQ(static_cast<uint16_t>(first->sequence + 1), second->sequence);
  EXPECT_EQ(second->timestamp, 1160u);
  EXPECT_EQ(session.send_stats().packets, 2u);
  EXPECT_EQ(session.send_stats().bytes, 320u);

  const RtcpPacket sr = parsed_rtcp(session.report(0, kWallUs, 1320));
  ASSERT_TRUE(sr.sender);
  EXPECT_EQ(sr.ssrc, 0x01020304u);
  EXPECT_EQ(sr.sender->packet_count, 2u);
  EXPECT_EQ(sr.sender->octet_count, 320u);
  EXPECT_EQ(sr.sender->rtp_timestamp, 1320u);
  EXPECT_EQ(sr.sender->ntp_time, ntp_from_unix_micros(kWallUs));
  EXPECT_TRUE(sr.reports.empty()) << "nothing received yet";
  EXPECT_FALSE(parsed_rtcp(session.report(1, kWallUs, 1320)).sender) << "silent: RR only";

  const RtcpPacket bye = parsed_rtcp(session.bye());
  EXPECT_TRUE(bye.bye);
  EXPECT_EQ(bye.ssrc, 0x01020304u);
}

TEST(MediaRtpSession, CountsLossAndFractionPerInterval) {
  RtpSession session(1, kClockRate, "c");
  int64_t now = 0;
  std::vector<int> sequences = range(1000, 1019);
  sequences.erase(sequences.begin() + 5,
                  sequences.begin() + 7);  // 1005 and 1006 lost
  feed(session, sequences, now);
  EXPECT_EQ(session.receive_stats().lost, 2);
  EXPECT_EQ(session.receive_stats().packets, 18u);

  const RtcpPacket rr = parsed_rtcp(session.report(now, kWallUs, 0));
  ASSERT_EQ(rr.reports.size(), 1u);
  const ReportBlock& block = rr.reports[0];
  EXPECT_EQ(block.ssrc, 0x1234u);
  EXPECT_EQ(block.cumulative_lost, 2);
  EXPECT_EQ(block.highest_sequence, 1019u);
  // 1000 starts probation, so 19 were expected from 1001 on, and 2 of them
  // lost.
  EXPECT_EQ(block.fraction_lost, (2 << 8) / 19);
  EXPECT_NEAR(session.receive_stats().fraction_lost, 2.0 / 19, 1.0 / 256);

  feed(session, range(1020, 1039), now);
  const RtcpPacket next = parsed_rtcp(session.report(now, kWallUs, 0));
  ASSERT_EQ(next.reports.size(), 1u);
  EXPECT_EQ(next.reports[0].fraction_lost, 0) << "no loss in this interval";
  EXPECT_EQ(next.reports[0].cumulative_lost, 2);
  EXPECT_EQ(session.receive_stats().fraction_lost, 0);
}

TEST(MediaRtpSession, ReorderingIsNoLossAndDuplicatesCountNegative) {
  RtpSession reordered(1, kClockRate, "c");
  int64_t now = 0;
  feed(reordered, {1, 2, 4, 3, 5, 7, 6, 8}, now);
  EXPECT_EQ(reordered.receive_stats().lost, 0);

  RtpSession duplicated(1, kClockRate, "c");
  feed(duplicated, {1, 2, 3, 3, 4, 4, 5}, now);
  EXPECT_EQ(duplicated.receive_stats().lost, -2);
  const RtcpPacket rr = parsed_rtcp(duplicated.report(now, kWallUs, 0));
  ASSERT_EQ(rr.reports.size(), 1u);
  EXPECT_EQ(rr.reports[0].cumulative_lost, -2);
  EXPECT_EQ(rr.reports[0].fraction_lost, 0);
}

TEST(MediaRtpSession, SequenceWrapsAt65535) {
  RtpSession session(1, kClockRate, "c");
  int64_t now = 0;
  std::vector<int> sequences = range(65530, 65535);
  for (int sequence : range(0, 5)) {
    if (sequence != 2) sequences.push_back(sequence);
  }
  feed(session, sequences, now);
  EXPECT_EQ(session.receive_stats().lost, 1);
  const RtcpPacket rr = parsed_rtcp(session.report(now, kWallUs, 0));
  ASSERT_EQ(rr.reports.size(), 1u);
  EXPECT_EQ(rr.reports[0].highest_sequence, 65536u + 5) << "one cycle in the high 16 bits";
  EXPECT_EQ(rr.reports[0].cumulative_lost, 1);

  feed(session, {65535},
       now);  // a late packet from before the wrap is no new cycle
  const RtcpPacket late = parsed_rtcp(session.report(now, kWallUs, 0));
  EXPECT_EQ(late.reports[0].highest_sequence, 65536u + 5);
}

TEST(MediaRtpSession, ProbationAndRestartAfterALargeJump) {
  RtpSession session(1, kClockRate, "c");
  int64_t now = 0;
  feed(session, {10}, now);
  EXPECT_TRUE(parsed_rtcp(session.report(now, kWallUs, 0)).reports.empty())
      << "one packet is no valid source yet";
  feed(session, {11, 12}, now);
  EXPECT_EQ(parsed_rtcp(session.report(now, kWallUs, 0)).reports.size(), 1u);

  // The sender restarts its numbering: one stray packet is ignored, two in
  // sequence restart the count (RFC 3550 A.1).
  feed(session, {40000}, now);
  EXPECT_EQ(session.receive_stats().lost, 0);
  feed(session, {40001, 40002}, now);
  EXPECT_EQ(session.receive_stats().lost, 0);
  const RtcpPacket rr = parsed_rtcp(session.report(now, kWallUs, 0));
  EXPECT_EQ(rr.reports[0].highest_sequence, 40002u);
}

TEST(MediaRtpSession, JitterFollowsArrivalVariation) {
  RtpSession steady(1, kClockRate, "c");
  int64_t now = 0;
  feed(steady, range(1, 100), now);
  EXPECT_EQ(steady.receive_stats().jitter_ms, 0);

  // Every other packet arrives 10 ms late: |D| is 10 ms for each pair, so
  // the RFC 3550 A.8 estimate converges on 10 ms.
  RtpSession bumpy(1, kClockRate, "c");
  for (uint16_t sequence = 1; sequence <= 300; ++sequence) {
    const int64_t arrival = sequence * kFrameUs + (sequence % 2 ? 10'000 : 0);
    ASSERT_TRUE(bumpy.received(rtp(sequence, sequence * kFrameTicks), arrival));
  }
  EXPECT_NEAR(bumpy.receive_stats().jitter_ms, 10, 0.1);
  const RtcpPacket rr = parsed_rtcp(bumpy.report(300 * kFrameUs, kWallUs, 0));
  ASSERT_EQ(rr.reports.size(), 1u);
  EXPECT_NEAR(rr.reports[0].jitter, 80, 1) << "10 ms at 8 kHz";
}

// A key held for 200 ms: RFC 4733 repeats the event's start timestamp in
// each update, which must not read as jitter on a steady link.
TEST(MediaRtpSession, TelephoneEventUpdatesAreNoJitter) {
  RtpSession session(1, kClockRate, "c");
  int64_t now = 0;
  feed(session, range(1, 20), now);
  for (uint16_t sequence = 21; sequence <= 30; ++sequence) {
    ASSERT_TRUE(session.received(rtp(sequence, 21 * kFrameTicks), now));
    now += kFrameUs;
  }
  feed(session, range(31, 40), now);
  EXPECT_EQ(session.receive_stats().jitter_ms, 0);
  EXPECT_EQ(session.receive_stats().lost, 0);
}

// Alice and Bob over a link with 50 ms each way; Bob answers Alice's SR
// 200 ms after it arrived.
TEST(MediaRtpSession, RoundTripTimeFromReportBlocks) {
  RtpSession alice(0xA11CE, kClockRate, "alice");
  RtpSession bob(0xB0B, kClockRate, "bob");
  constexpr int64_t kOneWayUs = 50'000;
  int64_t now = 1'000'000;
  for (int i = 0; i < 5; ++i) {
    const Bytes from_alice = alice.packet(0, false, i * kFrameTicks, Bytes(160));
    const Bytes from_bob = bob.packet(0, false, i * kFrameTicks, Bytes(160));
    auto a = parse_rtp(from_alice);
    auto b = parse_rtp(from_bob);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(bob.received(*a, now + kOneWayUs));
    ASSERT_TRUE(alice.received(*b, now + kOneWayUs));
    now += kFrameUs;
  }
  EXPECT_FALSE(alice.receive_stats().rtt_ms);

  // The wall clocks differ wildly from the monotonic ones and from each other.
  const Bytes alice_sr = alice.report(now, kWallUs, 800);
  bob.received_report(parsed_rtcp(alice_sr), now + kOneWayUs);
  const int64_t bob_reports = now + kOneWayUs + 200'000;
  const RtcpPacket bob_sr = parsed_rtcp(bob.report(bob_reports, kWallUs + 7'777'777, 800));
  ASSERT_EQ(bob_sr.reports.size(), 1u);
  EXPECT_NEAR(bob_sr.reports[0].delay_since_last_sr, 0.2 * 65536, 1);
  alice.received_report(bob_sr, bob_reports + kOneWayUs);
  ASSERT_TRUE(alice.receive_stats().rtt_ms);
  EXPECT_NEAR(*alice.receive_stats().rtt_ms, 100, 0.05);

  // Bob learns it from Alice's answer to his SR.
  const Bytes alice_rr = alice.report(bob_reports + kOneWayUs + 30'000, kWallUs + 5, 800);
  bob.received_report(parsed_rtcp(alice_rr), bob_reports + 2 * kOneWayUs + 30'000);
  ASSERT_TRUE(bob.receive_stats().rtt_ms);
  EXPECT_NEAR(*bob.receive_stats().rtt_ms, 100, 0.05);
}

TEST(MediaRtpSession, IgnoresReportsItCannotMatch) {
  RtpSession alice(0xA11CE, kClockRate, "alice");
  (void)alice.packet(0, false, 0, Bytes(10));
  (void)alice.report(0, kWallUs, 0);
  ASSERT_TRUE(alice.received(rtp(1, 0, 0xB0B), 0));

  RtcpPacket forged;
  forged.ssrc = 0xB0B;
  forged.reports.push_back(ReportBlock{0xA11CE, 0, 0, 0, 0, 0x0BAD0BAD, 0});  // no such SR
  forged.reports.push_back(ReportBlock{0xA11CE, 0, 0, 0, 0, 0, 0});           // no SR yet
  alice.received_report(forged, 100'000);
  EXPECT_FALSE(alice.receive_stats().rtt_ms);

  RtcpPacket stranger;
  stranger.ssrc = 0x5757;
  stranger.bye = true;
  alice.received_report(stranger, 100'000);
  EXPECT_EQ(alice.receive_stats().dropped, 1u);
  EXPECT_FALSE(alice.received(rtp(2, 160, 0x5757), 120'000)) << "a stranger's BYE frees nothing";
}

TEST(MediaRtpSession, LocksOnOneSourceUntilByeOrSilence) {
  RtpSession session(1, kClockRate, "c");
  int64_t now = 0;
  feed(session, range(1, 10), now);
  EXPECT_EQ(session.remote_ssrc(), 0x1234u);

  EXPECT_FALSE(session.received(rtp(500, 500, 0x9999), now));
  EXPECT_EQ(session.receive_stats().dropped, 1u);
  EXPECT_EQ(session.remote_ssrc(), 0x1234u);

  // 2 s without a packet from the locked source: another may take over.
  const int64_t last = now - kFrameUs;
  EXPECT_FALSE(session.received(rtp(501, 500, 0x9999), last + 1'999'000));
  ASSERT_TRUE(session.received(rtp(502, 500, 0x9999), last + 2'000'000));
  EXPECT_EQ(session.remote_ssrc(), 0x9999u);
  EXPECT_EQ(session.receive_stats().dropped, 2u);
  now = last + 2'000'000 + kFrameUs;
  for (uint16_t sequence = 503; sequence < 510; ++sequence) {
    ASSERT_TRUE(session.received(rtp(sequence, sequence * kFrameTicks, 0x9999), now));
    now += kFrameUs;
  }
  EXPECT_EQ(session.receive_stats().lost, 0) << "counting restarted for the new source";
  EXPECT_FALSE(session.received(rtp(11, 11, 0x1234), now)) << "the old source is gone";

  // After the current source's BYE, a new one takes over at once.
  RtcpPacket bye;
  bye.ssrc = 0x9999;
  bye.bye = true;
  session.received_report(bye, now);
  ASSERT_TRUE(session.received(rtp(7, 7, 0x7777), now + kFrameUs));
  EXPECT_EQ(session.remote_ssrc(), 0x7777u);
  EXPECT_FALSE(session.received(rtp(510, 510, 0x9999), now + 2 * kFrameUs));
}

}  // namespace
}  // namespace sotto::media
