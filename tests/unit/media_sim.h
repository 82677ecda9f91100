// Two CallStreams over a simulated link with a fake clock (microseconds),
// for media_stream_test and media_call_bench.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "sotto/media/audio.h"
#include "sotto/media/codec.h"
#include "sotto/media/rtp.h"
#include "sotto/media/stream.h"

namespace sotto::media::sim {

// A microphone that plays a tone (from frame `onset` on; silence before) and
// a speaker that records everything played, with the fake time of each frame.
struct AudioState {
  double frequency = 440;
  int amplitude = 8000;
  int64_t onset = 0;  // first captured frame with the tone
  // Bursts: the tone is on for `burst_frames` of every `period_frames` (0: always on).
  int64_t period_frames = 0;
  int64_t burst_frames = 0;
  std::vector<int64_t> burst_at;  // fake time of the capture of each burst's first frame
  double phase = 0;
  int64_t captured_frames = 0;
  std::vector<int16_t> played;
  std::vector<int64_t> played_at;  // fake time of each played frame
  const int64_t* clock = nullptr;
  bool closed = false;
};

class ToneAudio : public AudioPort {
 public:
  explicit ToneAudio(std::shared_ptr<AudioState> state) : state_(std::move(state)) {}
  void capture(std::span<int16_t> frame) override {
    AudioState& s = *state_;
    const int64_t since = s.captured_frames - s.onset;
    bool on = s.frequency > 0 && since >= 0;
    if (on && s.period_frames > 0) {
      on = since % s.period_frames < s.burst_frames;
      if (since % s.period_frames == 0) s.burst_at.push_back(s.clock ? *s.clock : 0);
    }
    for (auto& sample : frame) {
      if (on) {
        sample = static_cast<int16_t>(s.amplitude * std::sin(s.phase));
        s.phase += 2 * M_PI * s.frequency / kSampleRate;
        if (s.phase > 2 * M_PI) s.phase -= 2 * M_PI;
      } else {
        sample = 0;
      }
    }
    ++s.captured_frames;
  }
  void play(std::span<const int16_t> frame) override {
    state_->played.insert(state_->played.end(), frame.begin(), frame.end());
    state_->played_at.push_back(state_->clock ? *state_->clock : 0);
  }
  void close() override { state_->closed = true; }

 private:
  std::shared_ptr<AudioState> state_;
};

struct Conditions {
  int64_t delay_us = 20'000;
  int64_t jitter_us = 0;  // uniform +-jitter_us (reorders packets when larger than 20 ms)
  double loss = 0;        // 0..1
  double duplicate = 0;   // 0..1
};

struct Datagram {
  int64_t due = 0;
  uint64_t order = 0;
  int to = 0;
  bool rtcp = false;
  std::vector<uint8_t> data;
  bool operator>(const Datagram& other) const {
    return due != other.due ? due > other.due : order > other.order;
  }
};

class SimLink {
 public:
  explicit SimLink(uint32_t seed = 7) : random_(seed) {}
  Conditions direction[2];  // [0]: A -> B, [1]: B -> A
  // Sees every datagram as it is sent: (from, rtcp, bytes, now).
  std::function<void(int, bool, const std::vector<uint8_t>&, int64_t)> tap;

  void send(int from, bool rtcp, std::vector<uint8_t> data, int64_t now) {
    if (tap) tap(from, rtcp, data, now);
    const Conditions& c = direction[from];
    if (chance(c.loss)) return;
    const int copies = chance(c.duplicate) ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      int64_t delay = c.delay_us;
      if (c.jitter_us > 0) {
        delay += std::uniform_int_distribution<int64_t>(-c.jitter_us, c.jitter_us)(random_);
      }
      if (delay < 0) delay = 0;
      queue_.push(Datagram{now + delay, order_++, 1 - from, rtcp, data});
    }
  }

  template <class Deliver>
  void deliver(int64_t now, Deliver&& to) {
    while (!queue_.empty() && queue_.top().due <= now) {
      Datagram d = queue_.top();
      queue_.pop();
      to(d);
    }
  }

 private:
  bool chance(double p) {
    return p > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < p;
  }
  std::mt19937 random_;
  uint64_t order_ = 0;
  std::priority_queue<Datagram, std::vector<Datagram>, std::greater<>> queue_;
};

inline sdp::Codec opus() { return sdp::Codec{96, "opus", 48000, 2, "useinbandfec=1; usedtx=1"}; }
inline sdp::Codec pcmu() { return sdp::Codec{0, "PCMU", 8000, 1, ""}; }

struct PartyConfig {
  bool zrtp = true;
  bool require_encryption = false;
  bool send_hash = true;  // our zrtp-hash reaches the peer through "SDP"
  double frequency = 440;
  int64_t onset = 0;
};

// Two parties, A (0) and B (1), ticking every 20 ms (B 7 ms after A).
class SimCall {
 public:
  SimLink link;
  int64_t now = 0;
  std::shared_ptr<AudioState> audio[2];
  std::unique_ptr<CallStream> stream[2];
  std::vector<Security> securities[2];
  std::string dtmf[2];
  StreamParams params[2];

  SimCall(sdp::Codec codec, PartyConfig a, PartyConfig b) {
    PartyConfig config[2] = {a, b};
    for (int i = 0; i < 2; ++i) {
      audio[i] = std::make_shared<AudioState>();
      audio[i]->frequency = config[i].frequency;
      audio[i]->onset = config[i].onset;
      audio[i]->clock = &now;
      StreamSetup setup;
      setup.self_uri = i == 0 ? "alice@example.org" : "bob@example.org";
      setup.peer_uri = i == 0 ? "bob@example.org" : "alice@example.org";
      setup.zrtp = config[i].zrtp;
      setup.audio = std::make_unique<ToneAudio>(audio[i]);
      // A steady test tone is "noise" to a denoiser: keep the path linear.
      setup.echo_cancellation = false;
      setup.noise_suppression = false;
      CallStream::Callbacks callbacks;
      callbacks.send_rtp = [this, i](std::vector<uint8_t> p) {
        link.send(i, false, std::move(p), now);
      };
      callbacks.send_rtcp = [this, i](std::vector<uint8_t> p) {
        link.send(i, true, std::move(p), now);
      };
      callbacks.security = [this, i](const Security& s) { securities[i].push_back(s); };
      callbacks.dtmf = [this, i](char digit) { dtmf[i] += digit; };
      auto created = CallStream::create(std::move(setup), std::move(callbacks));
      if (!created) throw std::runtime_error(created.error().message);
      stream[i] = std::move(*created);
    }
    for (int i = 0; i < 2; ++i) {
      params[i].codec = codec;
      params[i].telephone_event_type = 101;
      params[i].remote_address = "192.0.2.1";
      params[i].remote_port = 20000;
      params[i].require_encryption = config[i].require_encryption;
      if (config[1 - i].send_hash && !stream[1 - i]->zrtp_hash().empty()) {
        params[i].peer_zrtp_hash = stream[1 - i]->zrtp_hash();
      }
    }
  }

  void start() {
    for (int i = 0; i < 2; ++i) {
      auto started = stream[i]->start(params[i], now);
      if (!started) throw std::runtime_error(started.error().message);
    }
  }

  // Runs the clock until `until_us` or until `done` says so (checked every ms).
  void run(int64_t until_us, const std::function<bool()>& done = {}) {
    while (now < until_us) {
      now += 1000;
      link.deliver(now,
                   [this](const Datagram& d) { stream[d.to]->on_datagram(d.data, d.rtcp, now); });
      const int64_t phase = now % 20'000;
      if (phase == 0) stream[0]->tick(now, now + kWallOffset);
      if (phase == 7'000) stream[1]->tick(now, now + kWallOffset);
      if (done && done()) return;
    }
  }

  bool secure() const {
    return stream[0]->security().state == Encryption::secure &&
           stream[1]->security().state == Encryption::secure;
  }

  // The last `seconds` of what party `i` played.
  std::vector<int16_t> heard(int i, double seconds) const {
    const auto& played = audio[i]->played;
    const auto n =
        std::min<std::size_t>(played.size(), static_cast<std::size_t>(seconds * kSampleRate));
    return std::vector<int16_t>(played.end() - static_cast<std::ptrdiff_t>(n), played.end());
  }

  static constexpr int64_t kWallOffset = 1'790'000'000'000'000;
};

}  // namespace sotto::media::sim
