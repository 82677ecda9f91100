// Private to sotto/media: audio codecs (Opus through libopus; PCMU and PCMA,
// G.711, ours) and the adaptive jitter buffer with loss concealment. No I/O.
//
// Audio inside the engine is 16-bit mono PCM at 48 kHz in 20 ms frames (960
// samples). Codecs convert to and from their own rate: G.711 resamples
// 48 kHz <-> 8 kHz with libspeexdsp; Opus runs at 48 kHz.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sotto/base/base.h"
#include "sotto/sdp/sdp.h"

namespace sotto::media {

inline constexpr int kSampleRate = 48000;
inline constexpr int kFrameMs = 20;
inline constexpr int kFrameSamples = kSampleRate / 1000 * kFrameMs;  // 960

using Pcm = std::vector<int16_t>;  // mono, kSampleRate

class Encoder {
 public:
  virtual ~Encoder() = default;
  // One 20 ms frame of kFrameSamples samples -> payload bytes (Opus may give
  // an empty payload in DTX silence: then nothing is sent, the timestamp
  // still advances).
  virtual std::vector<uint8_t> encode(std::span<const int16_t> frame) = 0;
  // RTP clock units per 20 ms frame (960 for Opus, 160 for G.711).
  virtual uint32_t timestamp_step() const = 0;
  virtual uint32_t clock_rate() const = 0;  // 48000 / 8000
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes one payload into 48 kHz samples (kFrameSamples for a 20 ms
  // packet; Opus packets of other durations give what they hold, at most
  // 120 ms). A payload that does not decode: Errc::protocol.
  [[nodiscard]] virtual Result<Pcm> decode(std::span<const uint8_t> payload) = 0;
  // A lost frame (kFrameSamples): Opus uses in-band FEC from `next` when the
  // following packet is at hand, else its PLC; G.711 repeats the last frame
  // fading out over 60 ms, then silence.
  virtual Pcm conceal(std::optional<std::span<const uint8_t>> next) = 0;
  virtual uint32_t clock_rate() const = 0;
};

// For a negotiated codec ("opus"/48000, "PCMU"/8000, "PCMA"/8000, matched
// case-insensitively). Opus: VoIP application, in-band FEC on with an
// expected loss of 10 %, DTX on, mono, 32 kbit/s. Errc::not_supported for
// anything else.
[[nodiscard]] Result<std::unique_ptr<Encoder>> make_encoder(const sdp::Codec& codec);
[[nodiscard]] Result<std::unique_ptr<Decoder>> make_decoder(const sdp::Codec& codec);

// G.711 sample conversions (ITU-T G.711, exact).
uint8_t linear_to_ulaw(int16_t sample);
int16_t ulaw_to_linear(uint8_t code);
uint8_t linear_to_alaw(int16_t sample);
int16_t alaw_to_linear(uint8_t code);

// --- Jitter buffer.
//
// Packets go in as they arrive (any order, duplicates, late ones); every
// 20 ms the playout side takes one frame. The target delay adapts: it
// follows the observed jitter (a high percentile of the recent transit-time
// spread plus one frame), clamped to [20 ms, 300 ms], rising at once and
// falling slowly. When the buffer holds more than the target for a while
// (the sender's clock runs fast, or a burst arrived) frames are played
// slightly faster by dropping a concealment-friendly frame (silence first);
// when it runs dry a frame is concealed. Packets older than the playout
// point are dropped (counted as late).
class JitterBuffer {
 public:
  // `clock_rate`: RTP clock of the stream; `step`: timestamp units per 20 ms.
  JitterBuffer(uint32_t clock_rate, uint32_t step);

  // `arrival_us`: monotonic time of arrival.
  void push(uint16_t sequence, uint32_t timestamp, std::span<const uint8_t> payload,
            int64_t arrival_us);

  struct Frame {
    enum Kind { audio, lost, empty } kind = empty;
    // audio: the payload to decode; lost: the next payload if at hand (FEC).
    std::vector<uint8_t> payload;
    std::optional<std::vector<uint8_t>> next;
  };
  // The frame due now (call every 20 ms). `empty` before the first packet
  // and after a long silence (Opus DTX or hold): play silence then.
  Frame pop(int64_t now_us);

  struct Stats {
    double target_ms = 0;   // current target delay
    double current_ms = 0;  // what is buffered now
    uint64_t late = 0;      // arrived after their playout time
    uint64_t duplicates = 0;
    uint64_t concealed = 0;  // frames popped as lost
    uint64_t dropped_for_drift = 0;
  };
  Stats stats() const;
  void reset();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sotto::media
