// Per-frame cost of the media path: what one 20 ms frame costs to encode and
// decode (Opus at 32 kbit/s, PCMU with its 48 <-> 8 kHz resampling), and one
// jitter-buffer push + pop. A call does each 50 times a second per direction;
// the goal is a few % of one core for the whole call.
//
//   media_bench [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "sotto/media/codec.h"

namespace {

using namespace sotto::media;

sotto::sdp::Codec codec(const char* name, int clock_rate) {
  sotto::sdp::Codec out;
  out.name = name;
  out.clock_rate = clock_rate;
  return out;
}

// A second of speech-like sound: two tones with a slow swell.
Pcm voice() {
  Pcm out(kSampleRate);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double t = static_cast<double>(i) / kSampleRate;
    const double swell = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * 3 * t);
    out[i] = static_cast<int16_t>(swell * (6000 * std::sin(2 * std::numbers::pi * 220 * t) +
                                           3000 * std::sin(2 * std::numbers::pi * 1250 * t)));
  }
  return out;
}

void encode_decode(benchmark::State& state, const sotto::sdp::Codec& c) {
  auto encoder = make_encoder(c);
  auto decoder = make_decoder(c);
  if (!encoder || !decoder) {
    state.SkipWithError("codec not available");
    return;
  }
  const Pcm input = voice();
  const std::size_t frames = input.size() / kFrameSamples;
  std::size_t frame = 0;
  std::size_t bytes = 0;
  for (auto _ : state) {
    const auto payload = (*encoder)->encode(
        std::span<const int16_t>(input).subspan(frame * kFrameSamples, kFrameSamples));
    bytes += payload.size();
    auto decoded = (*decoder)->decode(payload);
    benchmark::DoNotOptimize(decoded);
    frame = (frame + 1) % frames;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_frame"] =
      static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

void BM_OpusEncodeDecode20ms(benchmark::State& state) {
  encode_decode(state, codec("opus", 48000));
}
BENCHMARK(BM_OpusEncodeDecode20ms);

void BM_PcmuEncodeDecode20ms(benchmark::State& state) { encode_decode(state, codec("PCMU", 8000)); }
BENCHMARK(BM_PcmuEncodeDecode20ms);

// One packet in, one frame out, with mild reordering, as in a call.
void BM_JitterPushPop(benchmark::State& state) {
  JitterBuffer buffer(48000, 960);
  const std::vector<uint8_t> payload(80, 0x5A);
  uint32_t i = 0;
  int64_t now = 0;
  for (auto _ : state) {
    const uint32_t sent = (i % 4 == 1) ? i + 1 : (i % 4 == 2 ? i - 1 : i);
    buffer.push(static_cast<uint16_t>(sent), sent * 960u, payload, now + 5000);
    auto frame = buffer.pop(now);
    benchmark::DoNotOptimize(frame);
    now += 20'000;
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_JitterPushPop);

}  // namespace

BENCHMARK_MAIN();
