// CallStream: two parties over a simulated link with a fake clock. What a
// user would notice: the same SAS on both sides, the tone heard at its
// pitch (through loss and jitter), nothing in the clear before ZRTP is
// secure, the fallback to plain RTP, forged packets that do not break the
// call, DTMF heard once per key, hold.
#include "sotto/media/stream.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "media_sim.h"

namespace sotto::media {
namespace {

using sim::PartyConfig;
using sim::SimCall;

constexpr int64_t kSecond = 1'000'000;

bool hears(const std::vector<int16_t>& samples, double frequency, double at_least = 0.5) {
  return !samples.empty() && tone_ratio(samples, kSampleRate, frequency) > at_least;
}

bool silent(const std::vector<int16_t>& samples) {
  return std::all_of(samples.begin(), samples.end(), [](int16_t s) { return std::abs(s) < 200; });
}

PartyConfig party(double frequency) {
  PartyConfig config;
  config.frequency = frequency;
  return config;
}

void expect_secure_call(const sdp::Codec& codec) {
  SimCall call(codec, party(440), party(660));
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  EXPECT_LT(call.now, kSecond) << "ZRTP took too long on a clean link";
  const Security& a = call.stream[0]->security();
  const Security& b = call.stream[1]->security();
  EXPECT_EQ(a.sas.size(), 4u);
  EXPECT_EQ(a.sas, b.sas);
  EXPECT_EQ(a.cipher, "AES1 HS80 X255");
  EXPECT_FALSE(a.sas_verified);
  EXPECT_FALSE(a.cache_mismatch);

  call.run(call.now + 2 * kSecond);
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
  EXPECT_FALSE(hears(call.heard(1, 1.0), 660, 0.1));
  EXPECT_TRUE(hears(call.heard(0, 1.0), 660));
  EXPECT_FALSE(hears(call.heard(0, 1.0), 440, 0.1));
  // Reported once: negotiating -> secure, no repeats.
  ASSERT_EQ(call.securities[0].size(), 1u);
  EXPECT_EQ(call.securities[0][0].state, Encryption::secure);
  const CallStats stats = call.stream[1]->stats();
  EXPECT_GT(stats.packets_received, 80u);
  EXPECT_EQ(stats.dropped, 0u);
  EXPECT_EQ(stats.auth_failures, 0u);
}

TEST(MediaStream, ZrtpSameSasAndToneBothWaysOpus) { expect_secure_call(sim::opus()); }

TEST(MediaStream, ZrtpSameSasAndToneBothWaysPcmu) { expect_secure_call(sim::pcmu()); }

TEST(MediaStream, NothingInTheClearBeforeOrAfterSecure) {
  SimCall call(sim::pcmu(), party(440), party(660));
  int64_t secure_at = -1;
  int rtp_before_secure = 0;
  int rtp_after = 0;
  int wrong_size = 0;
  std::vector<int16_t> as_plain_ulaw;  // A's payloads read as if they were G.711
  call.link.tap = [&](int from, bool rtcp, const std::vector<uint8_t>& data, int64_t) {
    if (from != 0 || rtcp) return;
    if (classify(data) != PacketKind::rtp) return;
    if (call.stream[0]->security().state != Encryption::secure) {
      ++rtp_before_secure;
      return;
    }
    ++rtp_after;
    // 12-byte header + 160 bytes of G.711 + the 10-byte HMAC-SHA1-80 tag.
    if (data.size() != 12 + 160 + 10) {
      ++wrong_size;
      return;
    }
    for (std::size_t i = 12; i < 12 + 160; ++i) as_plain_ulaw.push_back(ulaw_to_linear(data[i]));
  };
  call.start();
  call.run(5 * kSecond, [&] {
    if (secure_at < 0 && call.secure()) secure_at = call.now;
    return false;
  });
  EXPECT_GT(secure_at, 0);
  EXPECT_EQ(rtp_before_secure, 0);
  EXPECT_GT(rtp_after, 100);
  EXPECT_EQ(wrong_size, 0);
  // The tone is clearly there in B's speaker, and not on the wire.
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
  ASSERT_FALSE(as_plain_ulaw.empty());
  EXPECT_LT(tone_ratio(as_plain_ulaw, 8000, 440), 0.05);
}

void expect_tone_through_bad_network(const sdp::Codec& codec, double loss) {
  SimCall call(codec, party(440), party(660));
  for (auto& d : call.link.direction) {
    d.delay_us = 40'000;
    d.jitter_us = 30'000;
    d.loss = loss;
  }
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  double worst_buffer_ms = 0;
  const int64_t end = call.now + 4 * kSecond;
  const int64_t settle = call.now + kSecond;
  call.run(end, [&] {
    if (call.now > settle) {
      for (auto& s : call.stream) worst_buffer_ms = std::max(worst_buffer_ms, s->stats().buffer_ms);
    }
    return false;
  });
  EXPECT_TRUE(hears(call.heard(1, 2.0), 440, 0.3))
      << tone_ratio(call.heard(1, 2.0), kSampleRate, 440);
  EXPECT_TRUE(hears(call.heard(0, 2.0), 660, 0.3))
      << tone_ratio(call.heard(0, 2.0), kSampleRate, 660);
  EXPECT_LT(worst_buffer_ms, 200);
  const CallStats stats = call.stream[1]->stats();
  EXPECT_NEAR(stats.loss, loss, 0.05);
  EXPECT_GT(stats.jitter_ms, 1);
}

TEST(MediaStream, ToneThroughFivePercentLossAndJitterOpus) {
  expect_tone_through_bad_network(sim::opus(), 0.05);
}
TEST(MediaStream, ToneThroughTenPercentLossAndJitterOpus) {
  expect_tone_through_bad_network(sim::opus(), 0.10);
}
TEST(MediaStream, ToneThroughFivePercentLossAndJitterPcmu) {
  expect_tone_through_bad_network(sim::pcmu(), 0.05);
}
TEST(MediaStream, ToneThroughTenPercentLossAndJitterPcmu) {
  expect_tone_through_bad_network(sim::pcmu(), 0.10);
}

TEST(MediaStream, PeerWithoutZrtpFallsBackToPlainAfterThreeSeconds) {
  PartyConfig b = party(660);
  b.zrtp = false;
  SimCall call(sim::pcmu(), party(440), b);
  EXPECT_TRUE(call.stream[1]->zrtp_hash().empty());
  EXPECT_FALSE(call.params[0].peer_zrtp_hash);
  int rtp_from_a_while_negotiating = 0;
  call.link.tap = [&](int from, bool, const std::vector<uint8_t>& data, int64_t) {
    if (from == 0 && classify(data) == PacketKind::rtp &&
        call.stream[0]->security().state == Encryption::negotiating) {
      ++rtp_from_a_while_negotiating;
    }
  };
  call.start();
  call.run(10 * kSecond,
           [&] { return call.stream[0]->security().state != Encryption::negotiating; });
  const Security& a = call.stream[0]->security();
  EXPECT_EQ(a.state, Encryption::none);
  EXPECT_FALSE(a.reason.empty());
  EXPECT_GE(call.now, 3 * kSecond);
  EXPECT_LE(call.now, 3 * kSecond + 100'000);
  EXPECT_EQ(rtp_from_a_while_negotiating, 0);
  // B plays nothing of A before the fallback: A sent nothing.
  EXPECT_TRUE(silent(call.heard(1, 2.5)));
  call.run(call.now + 2 * kSecond);
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
  EXPECT_TRUE(hears(call.heard(0, 1.0), 660));
  EXPECT_EQ(call.stream[1]->security().state, Encryption::none);
}

TEST(MediaStream, PeerWithoutZrtpFailsWhenEncryptionIsRequired) {
  PartyConfig a = party(440);
  a.require_encryption = true;
  PartyConfig b = party(660);
  b.zrtp = false;
  SimCall call(sim::opus(), a, b);
  int rtp_from_a = 0;
  call.link.tap = [&](int from, bool rtcp, const std::vector<uint8_t>& data, int64_t) {
    if (from == 0 && (rtcp || classify(data) != PacketKind::zrtp)) ++rtp_from_a;
  };
  call.start();
  call.run(6 * kSecond);
  const Security& security = call.stream[0]->security();
  EXPECT_EQ(security.state, Encryption::failed);
  EXPECT_FALSE(security.reason.empty());
  EXPECT_EQ(rtp_from_a, 0);
  EXPECT_TRUE(silent(call.heard(0, 5.0)));
  ASSERT_EQ(call.securities[0].size(), 1u);
}

TEST(MediaStream, ForgedAndBrokenPacketsAreDroppedAndTheCallGoesOn) {
  SimCall call(sim::pcmu(), party(440), party(660));
  std::vector<std::vector<uint8_t>> sent_by_a;
  call.link.tap = [&](int from, bool rtcp, const std::vector<uint8_t>& data, int64_t) {
    if (from == 0 && !rtcp && classify(data) == PacketKind::rtp) sent_by_a.push_back(data);
  };
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.run(call.now + kSecond);
  ASSERT_GT(sent_by_a.size(), 10u);
  CallStream& b = *call.stream[1];
  const CallStats before = b.stats();

  const std::vector<uint8_t> garbage = {0x00, 0x13, 0x37, 0x42, 0xff, 0xfe};
  b.on_datagram(garbage, false, call.now);
  const std::vector<uint8_t> payload(160, 0xff);
  b.on_datagram(write_rtp(0, false, 1234, 5678, 0xdeadbeef, payload), false, call.now);
  std::vector<uint8_t> truncated(sent_by_a.back().begin(), sent_by_a.back().begin() + 14);
  b.on_datagram(truncated, false, call.now);
  b.on_datagram(sent_by_a[sent_by_a.size() - 3], false, call.now);  // replayed
  // baresip sends a few plain RTCP reports: they must not break the call.
  b.on_datagram(write_rtcp(0x1234, std::nullopt, {}, "baresip"), true, call.now);
  b.on_datagram(write_rtcp(0x1234, std::nullopt, {}, "baresip"), false, call.now);
  const std::vector<uint8_t> empty;
  b.on_datagram(empty, false, call.now);

  const CallStats after = b.stats();
  EXPECT_GE(after.dropped - before.dropped, 2u);
  EXPECT_GE(after.auth_failures - before.auth_failures, 5u);
  EXPECT_EQ(after.dropped + after.auth_failures - before.dropped - before.auth_failures, 7u);
  EXPECT_EQ(b.security().state, Encryption::secure);

  call.run(call.now + 2 * kSecond);
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
  EXPECT_TRUE(hears(call.heard(0, 1.0), 660));
}

TEST(MediaStream, DtmfIsReportedOncePerDigit) {
  SimCall call(sim::opus(), party(440), party(660));
  call.link.direction[0].duplicate = 0.2;
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.stream[0]->send_dtmf("1#x");  // 'x' is no DTMF digit: ignored
  call.run(call.now + 2 * kSecond);
  EXPECT_EQ(call.dtmf[1], "1#");
  EXPECT_EQ(call.dtmf[0], "");
  // Audio comes back after the digits.
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
}

TEST(MediaStream, DtmfSurvivesLoss) {
  SimCall call(sim::pcmu(), party(440), party(660));
  call.link.direction[0].loss = 0.1;
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.stream[0]->send_dtmf("159");
  call.run(call.now + 2 * kSecond);
  EXPECT_EQ(call.dtmf[1], "159");
}

TEST(MediaStream, HoldStopsTheAudioAndResumeBringsItBack) {
  SimCall call(sim::opus(), party(440), party(660));
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.run(call.now + kSecond);
  ASSERT_TRUE(hears(call.heard(1, 0.5), 440));

  // A holds B: neither hears the other.
  StreamParams held = call.params[0];
  held.direction = sdp::Direction::inactive;
  ASSERT_TRUE(call.stream[0]->start(held, call.now));
  StreamParams answer = call.params[1];
  answer.direction = sdp::Direction::inactive;
  ASSERT_TRUE(call.stream[1]->start(answer, call.now));
  call.run(call.now + 1500'000);
  EXPECT_TRUE(silent(call.heard(1, 1.0)));
  EXPECT_TRUE(silent(call.heard(0, 1.0)));

  // Resume: ZRTP and SRTP carry on, the audio is back.
  ASSERT_TRUE(call.stream[0]->start(call.params[0], call.now));
  ASSERT_TRUE(call.stream[1]->start(call.params[1], call.now));
  call.run(call.now + 1500'000);
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));
  EXPECT_TRUE(hears(call.heard(0, 1.0), 660));
  EXPECT_EQ(call.stream[0]->security().state, Encryption::secure);
  EXPECT_EQ(call.securities[0].size(), 1u);
}

TEST(MediaStream, SendOnlyHoldStillPlaysToThePeerButNotToUs) {
  SimCall call(sim::pcmu(), party(440), party(660));
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  StreamParams held = call.params[0];
  held.direction = sdp::Direction::sendonly;
  ASSERT_TRUE(call.stream[0]->start(held, call.now));
  StreamParams answer = call.params[1];
  answer.direction = sdp::Direction::recvonly;
  ASSERT_TRUE(call.stream[1]->start(answer, call.now));
  call.run(call.now + 1500'000);
  EXPECT_TRUE(hears(call.heard(1, 1.0), 440));  // e.g. music on hold
  EXPECT_TRUE(silent(call.heard(0, 1.0)));
}

TEST(MediaStream, MuteSendsSilenceNotTheMicrophone) {
  SimCall call(sim::pcmu(), party(440), party(660));
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.stream[0]->set_mute(true);
  call.run(call.now + 500'000);
  const uint64_t received = call.stream[1]->stats().packets_received;
  call.run(call.now + kSecond);
  EXPECT_TRUE(silent(call.heard(1, 0.8)));
  // Silence still flows, so the peer's jitter buffer stays primed.
  EXPECT_GT(call.stream[1]->stats().packets_received, received + 40);
  call.stream[0]->set_mute(false);
  call.run(call.now + kSecond);
  EXPECT_TRUE(hears(call.heard(1, 0.5), 440));
}

TEST(MediaStream, SasVerifiedIsReportedOnce) {
  SimCall call(sim::opus(), party(440), party(660));
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  call.stream[0]->set_sas_verified(true);
  call.stream[0]->set_sas_verified(true);
  ASSERT_EQ(call.securities[0].size(), 2u);
  EXPECT_TRUE(call.securities[0][1].sas_verified);
  EXPECT_EQ(call.securities[0][1].sas, call.securities[0][0].sas);
}

TEST(MediaStream, ByeAuthenticatesAtThePeer) {
  SimCall call(sim::pcmu(), party(440), party(660));
  EXPECT_TRUE(call.stream[0]->bye().empty());  // never started
  call.start();
  call.run(5 * kSecond, [&] { return call.secure(); });
  ASSERT_TRUE(call.secure());
  const auto bye = call.stream[0]->bye();
  ASSERT_FALSE(bye.empty());
  const CallStats before = call.stream[1]->stats();
  call.stream[1]->on_datagram(bye, true, call.now);
  const CallStats after = call.stream[1]->stats();
  EXPECT_EQ(after.auth_failures, before.auth_failures);
  EXPECT_EQ(after.dropped, before.dropped);
}

}  // namespace
}  // namespace sotto::media
