// sotto::media codecs (Opus, G.711) and the adaptive jitter buffer, driven
// with a scripted clock.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "sotto/media/codec.h"

namespace sotto::media {
namespace {

// --- Helpers.

// Power of `frequency` in `samples` relative to their mean square: about 1
// for a pure tone at that frequency, about 0 for one far from it.
double tone_share(std::span<const int16_t> samples, double frequency, int rate = kSampleRate) {
  const double coefficient = 2 * std::cos(2 * std::numbers::pi * frequency / rate);
  double s1 = 0, s2 = 0, energy = 0;
  for (int16_t sample : samples) {
    const double s0 = sample + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += static_cast<double>(sample) * sample;
  }
  const double n = static_cast<double>(samples.size());
  const double magnitude2 = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  if (energy == 0) return 0;
  return (2 * magnitude2 / (n * n)) / (energy / n);
}

Pcm tone(double frequency, int frames, double amplitude = 8000, int first_sample = 0) {
  Pcm out(static_cast<std::size_t>(frames) * kFrameSamples);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<int16_t>(amplitude *
                                  std::sin(2 * std::numbers::pi * frequency *
                                           static_cast<double>(i + first_sample) / kSampleRate));
  }
  return out;
}

std::span<const int16_t> frame_of(const Pcm& pcm, int index) {
  return std::span<const int16_t>(pcm).subspan(static_cast<std::size_t>(index) * kFrameSamples,
                                               kFrameSamples);
}

double rms(std::span<const int16_t> samples) {
  double sum = 0;
  for (int16_t s : samples) sum += static_cast<double>(s) * s;
  return samples.empty() ? 0 : std::sqrt(sum / static_cast<double>(samples.size()));
}

sdp::Codec codec(std::string name, int clock_rate, int channels = 1) {
  sdp::Codec out;
  out.name = std::move(name);
  out.clock_rate = clock_rate;
  out.channels = channels;
  return out;
}

struct Pair {
  std::unique_ptr<Encoder> encoder;
  std::unique_ptr<Decoder> decoder;
};

Pair pair_for(const sdp::Codec& c) {
  auto encoder = make_encoder(c);
  auto decoder = make_decoder(c);
  EXPECT_TRUE(encoder.has_value()) << c.name;
  EXPECT_TRUE(decoder.has_value()) << c.name;
  if (!encoder || !decoder) return {};
  return {std::move(*encoder), std::move(*decoder)};
}

// --- G.711.

TEST(MediaCodec, G711KnownCodes) {
  EXPECT_EQ(linear_to_ulaw(0), 0xFF);
  EXPECT_EQ(linear_to_alaw(0), 0xD5);
  EXPECT_EQ(ulaw_to_linear(0xFF), 0);
  EXPECT_EQ(ulaw_to_linear(0x7F), 0);
  EXPECT_EQ(ulaw_to_linear(0x80), 32124);
  EXPECT_EQ(ulaw_to_linear(0x00), -32124);
  EXPECT_EQ(alaw_to_linear(0xD5), 8);
  EXPECT_EQ(alaw_to_linear(0x55), -8);
  EXPECT_EQ(alaw_to_linear(0xAA), 32256);
  EXPECT_EQ(alaw_to_linear(0x2A), -32256);
  EXPECT_EQ(linear_to_ulaw(32767), 0x80);
  EXPECT_EQ(linear_to_ulaw(-32768), 0x00);
  EXPECT_EQ(linear_to_alaw(32767), 0xAA);
  EXPECT_EQ(linear_to_alaw(-32768), 0x2A);
  // Every code decodes to a value that encodes back to a code of that value.
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<uint8_t>(code);
    EXPECT_EQ(ulaw_to_linear(linear_to_ulaw(ulaw_to_linear(c))), ulaw_to_linear(c)) << code;
    EXPECT_EQ(linear_to_alaw(alaw_to_linear(c)), c) << code;
  }
}

TEST(MediaCodec, G711RoundTripErrorIsWithinHalfAStep) {
  int worst_ulaw = 0, worst_alaw = 0;
  for (int x = -32768; x <= 32767; ++x) {
    const auto sample = static_cast<int16_t>(x);
    const int magnitude = std::abs(x);
    const int ulaw_error = std::abs(ulaw_to_linear(linear_to_ulaw(sample)) - x);
    const int alaw_error = std::abs(alaw_to_linear(linear_to_alaw(sample)) - x);
    // Half a quantisation step: 1/32 of the value (4-bit mantissa), at
    // least 4 (µ-law) / 8 (A-law) near zero; beyond the top code, clipping.
    EXPECT_LE(ulaw_error, std::max({magnitude / 31 + 4, magnitude - 32124 + 4 * 33, 4})) << x;
    EXPECT_LE(alaw_error, std::max({magnitude / 31 + 8, magnitude - 32256 + 8 * 64})) << x;
    if (magnitude < 31000) {
      worst_ulaw = std::max(worst_ulaw, ulaw_error);
      worst_alaw = std::max(worst_alaw, alaw_error);
    }
  }
  EXPECT_LE(worst_ulaw, 512);
  EXPECT_LE(worst_alaw, 512);
  // Small signals stay accurate.
  for (int x = -100; x <= 100; ++x) {
    EXPECT_LE(std::abs(ulaw_to_linear(linear_to_ulaw(static_cast<int16_t>(x))) - x), 4);
    EXPECT_LE(std::abs(alaw_to_linear(linear_to_alaw(static_cast<int16_t>(x))) - x), 8);
  }
}

// --- Codec selection.

TEST(MediaCodec, MakesCodecsByNameCaseInsensitively) {
  for (const auto& c : {codec("opus", 48000, 2), codec("OPUS", 48000), codec("PCMU", 8000),
                        codec("pcmu", 8000), codec("PCMA", 8000), codec("Pcma", 8000)}) {
    auto encoder = make_encoder(c);
    auto decoder = make_decoder(c);
    ASSERT_TRUE(encoder.has_value()) << c.name;
    ASSERT_TRUE(decoder.has_value()) << c.name;
    const bool opus = c.clock_rate == 48000;
    EXPECT_EQ((*encoder)->clock_rate(), opus ? 48000u : 8000u);
    EXPECT_EQ((*decoder)->clock_rate(), opus ? 48000u : 8000u);
    EXPECT_EQ((*encoder)->timestamp_step(), opus ? 960u : 160u);
  }
  for (const auto& c : {codec("G722", 8000), codec("speex", 16000), codec("opus", 16000),
                        codec("telephone-event", 8000), codec("PCMU", 16000), codec("", 8000)}) {
    auto encoder = make_encoder(c);
    auto decoder = make_decoder(c);
    ASSERT_FALSE(encoder.has_value()) << c.name;
    ASSERT_FALSE(decoder.has_value()) << c.name;
    EXPECT_EQ(encoder.error().code, Errc::not_supported);
    EXPECT_EQ(decoder.error().code, Errc::not_supported);
  }
}

// --- A tone through each codec is heard at its pitch.

TEST(MediaCodec, ToneKeepsItsPitchThroughEveryCodec) {
  for (const auto& c : {codec("PCMU", 8000), codec("PCMA", 8000), codec("opus", 48000, 2)}) {
    SCOPED_TRACE(c.name);
    auto [encoder, decoder] = pair_for(c);
    ASSERT_TRUE(encoder && decoder);
    constexpr int kFrames = 50;
    const Pcm input = tone(440, kFrames);
    Pcm output;
    for (int i = 0; i < kFrames; ++i) {
      const auto payload = encoder->encode(frame_of(input, i));
      ASSERT_FALSE(payload.empty()) << "frame " << i;  // a tone is never DTX
      if (c.clock_rate == 8000) {
        EXPECT_EQ(payload.size(), 160u);
      }
      auto decoded = decoder->decode(payload);
      ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
      ASSERT_EQ(decoded->size(), static_cast<std::size_t>(kFrameSamples));
      output.insert(output.end(), decoded->begin(), decoded->end());
    }
    // The last 500 ms, past codec and resampler start-up.
    const auto tail = std::span<const int16_t>(output).subspan(output.size() - 24000);
    EXPECT_GT(tone_share(tail, 440), 0.8);
    EXPECT_LT(tone_share(tail, 880), 0.05);
    EXPECT_LT(tone_share(tail, 330), 0.05);
    EXPECT_GT(rms(tail), 8000 / std::sqrt(2.0) * 0.6);
    EXPECT_LT(rms(tail), 8000 / std::sqrt(2.0) * 1.4);
  }
}

TEST(MediaCodec, OpusSilenceIsNotSent) {
  auto [encoder, decoder] = pair_for(codec("opus", 48000));
  ASSERT_TRUE(encoder);
  const Pcm silence(kFrameSamples * 100, 0);
  int empty = 0;
  for (int i = 0; i < 100; ++i) empty += encoder->encode(frame_of(silence, i)).empty() ? 1 : 0;
  EXPECT_GT(empty, 50);  // DTX
}

// --- Concealment.

TEST(MediaCodec, OpusFecAndPlcGiveWholeFrames) {
  auto [encoder, decoder] = pair_for(codec("opus", 48000));
  ASSERT_TRUE(encoder && decoder);
  const Pcm input = tone(440, 12);
  std::vector<std::vector<uint8_t>> packets;
  for (int i = 0; i < 12; ++i) packets.push_back(encoder->encode(frame_of(input, i)));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(decoder->decode(packets[static_cast<std::size_t>(i)]));
  // Frame 6 lost, 7 at hand: in-band FEC restores the tone.
  const Pcm fec = decoder->conceal(std::span<const uint8_t>(packets[7]));
  ASSERT_EQ(fec.size(), static_cast<std::size_t>(kFrameSamples));
  EXPECT_GT(rms(fec), 1000);
  EXPECT_GT(tone_share(fec, 440), 0.5);
  auto after = decoder->decode(packets[7]);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->size(), static_cast<std::size_t>(kFrameSamples));
  // Frames 8 and 9 lost with nothing after them: PLC.
  for (int i = 0; i < 2; ++i) {
    const Pcm plc = decoder->conceal(std::nullopt);
    EXPECT_EQ(plc.size(), static_cast<std::size_t>(kFrameSamples));
  }
  EXPECT_TRUE(decoder->decode(packets[10]).has_value());
  // Concealment before anything was decoded is silence of the right size.
  auto fresh = make_decoder(codec("opus", 48000));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ((*fresh)->conceal(std::nullopt).size(), static_cast<std::size_t>(kFrameSamples));
}

TEST(MediaCodec, G711ConcealmentRepeatsThenFadesToSilence) {
  for (const auto& c : {codec("PCMU", 8000), codec("PCMA", 8000)}) {
    SCOPED_TRACE(c.name);
    auto [encoder, decoder] = pair_for(c);
    ASSERT_TRUE(encoder && decoder);
    const Pcm input = tone(440, 10);
    Pcm last;
    for (int i = 0; i < 10; ++i) {
      auto decoded = decoder->decode(encoder->encode(frame_of(input, i)));
      ASSERT_TRUE(decoded.has_value());
      last = *decoded;
    }
    std::vector<Pcm> concealed;
    for (int i = 0; i < 5; ++i) concealed.push_back(decoder->conceal(std::nullopt));
    for (const auto& frame : concealed) EXPECT_EQ(frame.size(), last.size());
    // The first concealed frame sounds like the last one, then it fades.
    EXPECT_GT(tone_share(concealed[0], 440), 0.5);
    EXPECT_GT(rms(concealed[0]), rms(last) * 0.6);
    EXPECT_LT(rms(concealed[1]), rms(concealed[0]));
    EXPECT_LT(rms(concealed[2]), rms(concealed[1]));
    EXPECT_EQ(rms(concealed[3]), 0);  // 60 ms on: silence
    EXPECT_EQ(rms(concealed[4]), 0);
    // Audio after the gap plays again at full level.
    auto decoded = decoder->decode(encoder->encode(frame_of(input, 0)));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_GT(rms(*decoded), 1000);
    EXPECT_GT(rms(decoder->conceal(std::nullopt)), 1000);
  }
}

// --- Garbage in.

TEST(MediaCodec, GarbagePayloadsAreRejected) {
  auto decoder = make_decoder(codec("opus", 48000));
  ASSERT_TRUE(decoder.has_value());
  const std::vector<std::vector<uint8_t>> malformed = {
      {},                        // empty
      {0x03},                    // code 3 without its frame count
      {0x03, 0x00},              // code 3 with zero frames
      {0x03, 0x3F},              // 63 frames of 20 ms: over 120 ms
      {0x02, 0xFB},              // code 2 whose first frame is longer than the packet
      {0x01, 0x01, 0x02, 0x03},  // code 1 with an odd number of bytes
  };
  for (const auto& payload : malformed) {
    auto decoded = (*decoder)->decode(payload);
    ASSERT_FALSE(decoded.has_value()) << payload.size();
    EXPECT_EQ(decoded.error().code, Errc::protocol);
  }
  // Random bytes either decode to at most 120 ms or are refused; never a crash.
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> payload(random() % 300);
    for (auto& byte : payload) byte = static_cast<uint8_t>(random());
    auto decoded = (*decoder)->decode(payload);
    if (decoded) {
      EXPECT_LE(decoded->size(), 5760u);
      EXPECT_GT(decoded->size(), 0u);
    } else {
      EXPECT_EQ(decoded.error().code, Errc::protocol);
    }
    // FEC from garbage still conceals one frame.
    EXPECT_EQ((*decoder)->conceal(std::span<const uint8_t>(payload)).size(),
              static_cast<std::size_t>(kFrameSamples));
  }
  for (const char* name : {"PCMU", "PCMA"}) {
    auto g711 = make_decoder(codec(name, 8000));
    ASSERT_TRUE(g711.has_value());
    auto empty = (*g711)->decode({});
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error().code, Errc::protocol);
    auto huge = (*g711)->decode(std::vector<uint8_t>(100000, 0xFF));
    ASSERT_FALSE(huge.has_value());
    EXPECT_EQ(huge.error().code, Errc::protocol);
  }
}

// --- Jitter buffer, driven with a scripted clock.

constexpr int64_t kFrameUs = 20'000;

struct Arrival {
  int64_t at_us = 0;
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t index = 0;  // which packet of the talk, carried in the payload
  std::size_t size = 40;
};

struct Played {
  int64_t at_us = 0;
  JitterBuffer::Frame frame;
};

std::vector<uint8_t> payload_for(uint32_t index, std::size_t size) {
  std::vector<uint8_t> out(std::max<std::size_t>(size, 4), 0x55);
  for (int i = 0; i < 4; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<uint8_t>(index >> (8 * i));
  return out;
}

uint32_t index_of(const std::vector<uint8_t>& payload) {
  uint32_t index = 0;
  for (int i = 0; i < 4 && i < static_cast<int>(payload.size()); ++i) {
    index |= static_cast<uint32_t>(payload[static_cast<std::size_t>(i)]) << (8 * i);
  }
  return index;
}

// `count` packets of 20 ms at 48 kHz; `arrival(i)` gives packet i's arrival.
std::vector<Arrival> talk(uint32_t count, const std::function<int64_t(uint32_t)>& arrival,
                          uint16_t first_sequence = 1000, uint32_t first_timestamp = 123456,
                          uint32_t first_index = 0) {
  std::vector<Arrival> out;
  for (uint32_t i = 0; i < count; ++i) {
    Arrival a;
    a.at_us = arrival(i);
    a.sequence = static_cast<uint16_t>(first_sequence + i);
    a.timestamp = first_timestamp + i * kFrameSamples;
    a.index = first_index + i;
    out.push_back(a);
  }
  return out;
}

// Pops every 20 ms from `from_us` until `until_us`, pushing each packet as
// its arrival time passes.
std::vector<Played> drive(JitterBuffer& buffer, std::vector<Arrival> arrivals, int64_t from_us,
                          int64_t until_us,
                          const std::function<void(int64_t, const JitterBuffer&)>& each = {}) {
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const Arrival& a, const Arrival& b) { return a.at_us < b.at_us; });
  std::vector<Played> out;
  std::size_t next = 0;
  for (int64_t now = from_us; now < until_us; now += kFrameUs) {
    for (; next < arrivals.size() && arrivals[next].at_us <= now; ++next) {
      const auto& a = arrivals[next];
      buffer.push(a.sequence, a.timestamp, payload_for(a.index, a.size), a.at_us);
    }
    out.push_back({now, buffer.pop(now)});
    if (each) each(now, buffer);
  }
  return out;
}

std::vector<uint32_t> audio_indices(const std::vector<Played>& played) {
  std::vector<uint32_t> out;
  for (const auto& p : played) {
    if (p.frame.kind == JitterBuffer::Frame::audio) out.push_back(index_of(p.frame.payload));
  }
  return out;
}

// Frames concealed before the last audio frame (after it, the end of the
// talk is concealed too until the buffer gives up: nobody can know it ended).
int lost_before_end(const std::vector<Played>& played) {
  auto last = std::find_if(played.rbegin(), played.rend(), [](const Played& p) {
    return p.frame.kind == JitterBuffer::Frame::audio;
  });
  return static_cast<int>(std::count_if(played.begin(), last.base(), [](const Played& p) {
    return p.frame.kind == JitterBuffer::Frame::lost;
  }));
}

std::vector<uint32_t> iota(uint32_t count, uint32_t first = 0) {
  std::vector<uint32_t> out(count);
  for (uint32_t i = 0; i < count; ++i) out[i] = first + i;
  return out;
}

TEST(MediaJitter, EmptyBeforeTheFirstPacket) {
  JitterBuffer buffer(48000, 960);
  for (int64_t t = 0; t < 1'000'000; t += kFrameUs) {
    EXPECT_EQ(buffer.pop(t).kind, JitterBuffer::Frame::empty);
  }
  EXPECT_EQ(buffer.stats().concealed, 0u);
}

TEST(MediaJitter, PlaysInOrderWithLittleDelay) {
  JitterBuffer buffer(48000, 960);
  const auto played =
      drive(buffer, talk(100, [](uint32_t i) { return 1'000'000 + 30'000 + i * kFrameUs; }),
            1'000'000, 4'000'000);
  EXPECT_EQ(audio_indices(played), iota(100));
  EXPECT_EQ(lost_before_end(played), 0);
  const auto stats = buffer.stats();
  EXPECT_EQ(stats.late, 0u);
  EXPECT_LE(stats.concealed, 10u);  // the end of the talk, for up to 200 ms
  EXPECT_EQ(stats.target_ms, 20);
  // Played within 20..40 ms of arriving.
  for (const auto& p : played) {
    if (p.frame.kind != JitterBuffer::Frame::audio) continue;
    const int64_t arrived = 1'030'000 + index_of(p.frame.payload) * kFrameUs;
    EXPECT_GE(p.at_us - arrived, 20'000);
    EXPECT_LT(p.at_us - arrived, 40'000);
  }
  EXPECT_EQ(played.back().frame.kind, JitterBuffer::Frame::empty);
}

TEST(MediaJitter, RestoresOrderAndDropsDuplicates) {
  JitterBuffer buffer(48000, 960);
  // Pairs swapped (odd before even), every packet sent twice.
  auto arrivals = talk(200, [](uint32_t i) {
    return 5'000 + static_cast<int64_t>(i) * kFrameUs + (i % 2 == 0 ? 25'000 : 0);
  });
  auto copies = arrivals;
  for (auto& a : copies) a.at_us += 3'000;
  arrivals.insert(arrivals.end(), copies.begin(), copies.end());
  const auto played = drive(buffer, arrivals, 0, 5'000'000);
  EXPECT_EQ(audio_indices(played), iota(200));
  const auto stats = buffer.stats();
  EXPECT_EQ(stats.duplicates, 200u);
  EXPECT_EQ(stats.late, 0u);
  EXPECT_EQ(lost_before_end(played), 0);
  EXPECT_GE(stats.target_ms, 45);
}

TEST(MediaJitter, RandomLossIsConcealedFrameForFrame) {
  for (const double loss : {0.05, 0.10}) {
    SCOPED_TRACE(loss);
    std::mt19937 random(loss == 0.05 ? 11 : 12);
    std::bernoulli_distribution lose(loss);
    auto all = talk(1500, [](uint32_t i) { return 40'000 + i * kFrameUs; });
    std::vector<Arrival> sent;
    std::set<uint32_t> lost;
    for (const auto& a : all) {
      if (a.index > 0 && a.index + 1 < all.size() && lose(random)) {
        lost.insert(a.index);
      } else {
        sent.push_back(a);
      }
    }
    JitterBuffer buffer(48000, 960);
    const auto played = drive(buffer, sent, 0, 31'000'000 + 40'000 + 200'000);
    std::vector<uint32_t> expected;
    for (const auto& a : sent) expected.push_back(a.index);
    EXPECT_EQ(audio_indices(played), expected);
    EXPECT_EQ(lost_before_end(played), static_cast<int>(lost.size()));
    EXPECT_EQ(buffer.stats().late, 0u);
    // Each lost frame whose successor arrived comes with it, for FEC.
    std::size_t with_next = 0, expected_with_next = 0;
    for (const auto& p : played) {
      if (p.frame.kind != JitterBuffer::Frame::lost || !p.frame.next) continue;
      ++with_next;
      EXPECT_EQ(lost.count(index_of(*p.frame.next) - 1), 1u);
    }
    for (uint32_t index : lost) expected_with_next += lost.count(index + 1) ? 0 : 1;
    EXPECT_EQ(with_next, expected_with_next);
  }
}

TEST(MediaJitter, FollowsJitterUpAndComesBackDown) {
  std::mt19937 random(3);
  std::uniform_int_distribution<int64_t> jitter(-40'000, 40'000);
  constexpr uint32_t kJittery = 1500;  // 30 s
  constexpr uint32_t kCalm = 1500;     // then 30 s without jitter
  std::vector<int64_t> arrival_of(kJittery + kCalm);
  for (uint32_t i = 0; i < arrival_of.size(); ++i) {
    arrival_of[i] = 50'000 + i * kFrameUs + (i < kJittery ? jitter(random) : 0);
  }
  JitterBuffer buffer(48000, 960);
  double highest_target = 0, target_when_jittery = 0;
  double highest_buffered = 0;
  uint64_t late_at_5s = 0, late_at_30s = 0;
  const auto played =
      drive(buffer, talk(kJittery + kCalm, [&](uint32_t i) { return arrival_of[i]; }), 0,
            (kJittery + kCalm) * kFrameUs + 500'000, [&](int64_t now, const JitterBuffer& b) {
              const auto stats = b.stats();
              highest_target = std::max(highest_target, stats.target_ms);
              highest_buffered = std::max(highest_buffered, stats.current_ms);
              if (now == 5'000'000) late_at_5s = stats.late;
              if (now == 30'000'000) {
                late_at_30s = stats.late;
                target_when_jittery = stats.target_ms;
              }
            });
  EXPECT_GT(target_when_jittery, 40);
  EXPECT_LE(highest_target, 300);
  EXPECT_LE(highest_buffered, 300);
  // Once adapted, (almost) nothing arrives too late to play.
  EXPECT_LE(late_at_30s - late_at_5s, 25u);  // under 2 % of 1250 packets
  // Order is kept and nothing plays long after it was sent.
  const auto indices = audio_indices(played);
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()));
  EXPECT_GT(indices.size(), (kJittery + kCalm) * 98 / 100);
  for (const auto& p : played) {
    if (p.frame.kind != JitterBuffer::Frame::audio) continue;
    const int64_t sent = 50'000 + index_of(p.frame.payload) * kFrameUs;
    EXPECT_LE(p.at_us - sent, 260'000);
  }
  // After 30 calm seconds the target and the delay are small again.
  const auto stats = buffer.stats();
  EXPECT_LT(stats.target_ms, 40);
  for (std::size_t i = played.size() - 100; i < played.size() - 30; ++i) {
    const auto& p = played[i];
    if (p.frame.kind != JitterBuffer::Frame::audio) continue;
    const int64_t arrived = arrival_of[index_of(p.frame.payload)];
    EXPECT_LE(p.at_us - arrived, 60'000);
  }
}

TEST(MediaJitter, FastSenderClockStaysBounded) {
  // The sender's clock runs 0.5 % fast: 60 s of its audio arrive in 59.7 s.
  constexpr uint32_t kPackets = 3000;
  JitterBuffer buffer(48000, 960);
  double highest_buffered = 0;
  const auto played =
      drive(buffer,
            talk(kPackets,
                 [](uint32_t i) { return 30'000 + static_cast<int64_t>(i * kFrameUs / 1.005); }),
            0, 61'000'000, [&](int64_t now, const JitterBuffer& b) {
              if (now > 1'000'000 && now < 59'000'000) {
                highest_buffered = std::max(highest_buffered, b.stats().current_ms);
              }
            });
  const auto stats = buffer.stats();
  EXPECT_GT(stats.dropped_for_drift, 5u);  // ~15 frames of drift
  EXPECT_LT(stats.dropped_for_drift, 40u);
  EXPECT_LE(highest_buffered, 100);
  EXPECT_EQ(lost_before_end(played), 0);
  EXPECT_EQ(stats.late, 0u);
  const auto indices = audio_indices(played);
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()));
  EXPECT_EQ(indices.size() + stats.dropped_for_drift, kPackets);
}

TEST(MediaJitter, SlowSenderClockIsStretched) {
  constexpr uint32_t kPackets = 3000;
  JitterBuffer buffer(48000, 960);
  const auto played =
      drive(buffer,
            talk(kPackets,
                 [](uint32_t i) { return 30'000 + static_cast<int64_t>(i * kFrameUs * 1.005); }),
            0, 61'000'000);
  const auto stats = buffer.stats();
  EXPECT_EQ(audio_indices(played), iota(kPackets));
  EXPECT_LT(stats.concealed, 30u);  // ~15 frames stretched
  EXPECT_EQ(stats.late, 0u);
}

TEST(MediaJitter, SequenceAndTimestampWrap) {
  JitterBuffer buffer(48000, 960);
  auto arrivals = talk(
      300, [](uint32_t i) { return 30'000 + i * kFrameUs + (i % 3 == 1 ? 15'000 : 0); }, 65400,
      0xFFFFFFFFu - 960 * 100);
  std::swap(arrivals[100].at_us,
            arrivals[101].at_us);  // reordered right at the wrap
  const auto played = drive(buffer, arrivals, 0, 7'000'000);
  EXPECT_EQ(audio_indices(played), iota(300));
  EXPECT_EQ(lost_before_end(played), 0);
  EXPECT_EQ(buffer.stats().late, 0u);
}

TEST(MediaJitter, SilenceThenCleanRestart) {
  // 1 s of talk, 300 ms with nothing sent (DTX or hold; sequence numbers
  // go on, timestamps jump), then talk again.
  auto first = talk(50, [](uint32_t i) { return 30'000 + i * kFrameUs; });
  auto second = talk(
      50, [](uint32_t i) { return 30'000 + (50 + 15 + i) * kFrameUs; }, 1050,
      123456 + (50 + 15) * kFrameSamples, 50);
  first.insert(first.end(), second.begin(), second.end());
  JitterBuffer buffer(48000, 960);
  const auto played = drive(buffer, first, 0, 3'000'000);
  EXPECT_EQ(audio_indices(played), iota(100));
  const auto stats = buffer.stats();
  EXPECT_LE(lost_before_end(played), 10);  // the start of the pause, until it is one
  EXPECT_EQ(stats.late, 0u);
  // The gap ends in silence, and speech afterwards plays as promptly as before.
  bool empty_in_gap = false;
  for (const auto& p : played) {
    if (p.at_us > 1'030'000 && p.at_us < 1'330'000 && p.frame.kind == JitterBuffer::Frame::empty) {
      empty_in_gap = true;
    }
    if (p.frame.kind != JitterBuffer::Frame::audio) continue;
    const uint32_t index = index_of(p.frame.payload);
    const int64_t arrived = 30'000 + (index < 50 ? index : index + 15) * kFrameUs;
    EXPECT_LT(p.at_us - arrived, 40'000) << index;
  }
  EXPECT_TRUE(empty_in_gap);
}

TEST(MediaJitter, MemoryIsBounded) {
  JitterBuffer buffer(48000, 960);
  // 10 s arrive at once and nobody plays.
  for (uint32_t i = 0; i < 500; ++i) {
    buffer.push(static_cast<uint16_t>(i), i * 960, payload_for(i, 1200), 1000);
  }
  EXPECT_LE(buffer.stats().current_ms, 1020);
  EXPECT_GT(buffer.stats().dropped_for_drift, 400u);
  // It still plays the newest second, in order.
  std::vector<uint32_t> indices;
  for (int64_t t = 1000; t < 3'000'000; t += kFrameUs) {
    auto frame = buffer.pop(t);
    if (frame.kind == JitterBuffer::Frame::audio) indices.push_back(index_of(frame.payload));
  }
  EXPECT_FALSE(indices.empty());
  EXPECT_TRUE(std::is_sorted(indices.begin(), indices.end()));
  EXPECT_GE(indices.back(), 495u);
}

TEST(MediaJitter, SurvivesArbitraryInput) {
  JitterBuffer buffer(8000, 160);
  std::mt19937 random(5);
  int64_t now = 0;
  for (int i = 0; i < 20000; ++i) {
    now += static_cast<int64_t>(random() % 15000);
    std::vector<uint8_t> payload(random() % 200);
    buffer.push(static_cast<uint16_t>(random()), static_cast<uint32_t>(random()), payload, now);
    if (i % 2 == 0) (void)buffer.pop(now);
  }
  const auto stats = buffer.stats();
  EXPECT_LE(stats.current_ms, 1100);
  EXPECT_GE(stats.target_ms, 20);
  EXPECT_LE(stats.target_ms, 300);
}

TEST(MediaJitter, SenderRestartIsFollowed) {
  JitterBuffer buffer(48000, 960);
  auto arrivals = talk(50, [](uint32_t i) { return 30'000 + i * kFrameUs; });
  // A new sequence and timeline (a new source after re-INVITE).
  auto after = talk(
      50, [](uint32_t i) { return 30'000 + (50 + i) * kFrameUs; }, 40000, 999, 50);
  arrivals.insert(arrivals.end(), after.begin(), after.end());
  const auto played = drive(buffer, arrivals, 0, 3'000'000);
  const auto indices = audio_indices(played);
  EXPECT_EQ(indices.front(), 0u);
  EXPECT_EQ(indices.back(), 99u);
  EXPECT_GE(indices.size(), 95u);
}

}  // namespace
}  // namespace sotto::media
