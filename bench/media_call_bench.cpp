// A call's audio path on the simulated link of media_stream_test (two
// CallStreams, ZRTP + SRTP, fake clock): the delay the media path adds to
// the link's own (capture -> encode -> jitter buffer -> decode -> play,
// found by sending tone bursts and finding their onset in what is played),
// at 0 %, 5 % and 10 % loss with +-20 ms jitter, and the CPU time one
// simulated second of a call costs (both parties), for Opus and PCMU.
// A plain main that prints figures.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "unit/media_sim.h"

namespace sotto::media {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kLinkDelayUs = 40'000;

struct DelayResult {
  double median_ms = 0;
  double worst_ms = 0;
  int found = 0;
  int bursts = 0;
  double buffer_ms = 0;
};

DelayResult measure_delay(const sdp::Codec& codec, double loss) {
  sim::PartyConfig a;
  a.frequency = 1000;
  a.onset = 100;  // after ZRTP
  sim::PartyConfig b;
  b.frequency = 0;
  sim::SimCall call(codec, a, b);
  call.audio[0]->period_frames = 25;  // a 100 ms burst every 500 ms
  call.audio[0]->burst_frames = 5;
  for (auto& d : call.link.direction) {
    d.delay_us = kLinkDelayUs;
    d.jitter_us = 20'000;
    d.loss = loss;
  }
  call.start();
  double buffer_sum = 0;
  int buffer_samples = 0;
  call.run(30 * kSecond, [&] {
    if (call.now % 100'000 == 0 && call.now > 3 * kSecond) {
      buffer_sum += call.stream[1]->stats().buffer_ms;
      ++buffer_samples;
    }
    return false;
  });
  const auto& heard = call.audio[1]->played;
  const auto& at = call.audio[1]->played_at;
  std::vector<double> delays;
  const auto& bursts = call.audio[0]->burst_at;
  for (int64_t sent : bursts) {
    for (std::size_t frame = 0; frame < at.size(); ++frame) {
      if (at[frame] < sent) continue;
      if (at[frame] > sent + 400'000) break;
      int peak = 0;
      for (int i = 0; i < kFrameSamples; ++i) {
        peak = std::max(peak, std::abs(static_cast<int>(heard[frame * kFrameSamples + i])));
      }
      if (peak > 2000) {
        delays.push_back(static_cast<double>(at[frame] - sent - kLinkDelayUs) / 1000.0);
        break;
      }
    }
  }
  DelayResult result;
  result.bursts = static_cast<int>(bursts.size());
  result.found = static_cast<int>(delays.size());
  if (!delays.empty()) {
    std::sort(delays.begin(), delays.end());
    result.median_ms = delays[delays.size() / 2];
    result.worst_ms = delays.back();
  }
  if (buffer_samples > 0) result.buffer_ms = buffer_sum / buffer_samples;
  return result;
}

double cpu_ms_per_call_second(const sdp::Codec& codec) {
  sim::PartyConfig a;
  sim::PartyConfig b;
  b.frequency = 660;
  sim::SimCall call(codec, a, b);
  call.start();
  call.run(2 * kSecond, [&] { return call.secure(); });
  const int64_t begin = call.now;
  const std::clock_t cpu_start = std::clock();
  call.run(begin + 20 * kSecond);
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return cpu_ms / (static_cast<double>(call.now - begin) / kSecond);
}

}  // namespace
}  // namespace sotto::media

int main() {
  using namespace sotto::media;
  std::printf(
      "media_call_bench: two CallStreams (ZRTP+SRTP) on a simulated "
      "link, fake clock\n");
  std::printf(
      "added delay = play time of a burst's first loud frame - its "
      "capture time - "
      "%lld ms link delay; +-20 ms jitter\n",
      static_cast<long long>(kLinkDelayUs / 1000));
  for (const auto& codec : {sim::opus(), sim::pcmu()}) {
    for (double loss : {0.0, 0.05, 0.10}) {
      const DelayResult r = measure_delay(codec, loss);
      std::printf(
          "  %-5s loss %4.1f%%: added delay median %6.1f ms, worst %6.1f ms, "
          "mean buffer %5.1f ms (%d/%d bursts found)\n",
          codec.name.c_str(), loss * 100, r.median_ms, r.worst_ms, r.buffer_ms, r.found, r.bursts);
    }
  }
  for (const auto& codec : {sim::opus(), sim::pcmu()}) {
    std::printf("  %-5s CPU per simulated second of a call (both parties): %.2f ms\n",
                codec.name.c_str(), cpu_ms_per_call_second(codec));
  }
  return 0;
}
