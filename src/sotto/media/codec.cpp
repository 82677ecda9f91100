#include "sotto/media/codec.h"

#include <opus.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media";
constexpr int kOpusBitrate = 32000;
constexpr int kOpusLossPercent = 10;
constexpr int kOpusMaxPacket = 1275;                       // RFC 6716 §3.4 R2
constexpr int kOpusMaxSamples = kSampleRate / 1000 * 120;  // 120 ms
constexpr int kG711Rate = 8000;
constexpr int kG711FrameSamples = kG711Rate / 1000 * kFrameMs;  // 160
constexpr int kG711FadeSamples = kSampleRate / 1000 * 60;       // 60 ms
constexpr int kResamplerQuality = 5;

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Copies `frame` into exactly `samples` samples (zero padded or cut).
std::vector<int16_t> exact(std::span<const int16_t> frame, std::size_t samples) {
  std::vector<int16_t> out(samples, 0);
  std::copy_n(frame.begin(), std::min(samples, frame.size()), out.begin());
  return out;
}

// --- Opus.

struct OpusEncoderDeleter {
  void operator()(OpusEncoder* encoder) const { opus_encoder_destroy(encoder); }
};
struct OpusDecoderDeleter {
  void operator()(OpusDecoder* decoder) const { opus_decoder_destroy(decoder); }
};

class OpusVoiceEncoder final : public Encoder {
 public:
  explicit OpusVoiceEncoder(OpusEncoder* encoder) : encoder_(encoder) {}

  std::vector<uint8_t> encode(std::span<const int16_t> frame) override {
    const auto input = exact(frame, kFrameSamples);
    std::vector<uint8_t> out(kOpusMaxPacket);
    const int size = opus_encode(encoder_.get(), input.data(), kFrameSamples, out.data(),
                                 static_cast<opus_int32>(out.size()));
    if (size < 0) {
      log::warn(kLog, std::string("Opus could not encode a frame: ") + opus_strerror(size));
      return {};
    }
    // libopus docs: a packet of 2 bytes or less need not be sent (DTX).
    if (size <= 2) return {};
    out.resize(static_cast<std::size_t>(size));
    return out;
  }
  uint32_t timestamp_step() const override { return kFrameSamples; }
  uint32_t clock_rate() const override { return kSampleRate; }

 private:
  std::unique_ptr<OpusEncoder, OpusEncoderDeleter> encoder_;
};

class OpusVoiceDecoder final : public Decoder {
 public:
  explicit OpusVoiceDecoder(OpusDecoder* decoder) : decoder_(decoder) {}

  Result<Pcm> decode(std::span<const uint8_t> payload) override {
    // An empty payload would make opus_decode run its concealment.
    if (payload.empty()) return fail(Errc::protocol, "The Opus packet is empty.");
    const auto size = static_cast<opus_int32>(std::min<std::size_t>(payload.size(), 1 << 20));
    const int samples = opus_packet_get_nb_samples(payload.data(), size, kSampleRate);
    if (samples <= 0 || samples > kOpusMaxSamples) {
      return fail(Errc::protocol, "The Opus packet is malformed.");
    }
    Pcm out(kOpusMaxSamples);
    const int decoded =
        opus_decode(decoder_.get(), payload.data(), size, out.data(), kOpusMaxSamples, 0);
    if (decoded <= 0) {
      return fail(Errc::protocol,
                  std::string("The Opus packet does not decode: ") + opus_strerror(decoded));
    }
    out.resize(static_cast<std::size_t>(decoded));
    return out;
  }

  Pcm conceal(std::optional<std::span<const uint8_t>> next) override {
    Pcm out(kFrameSamples, 0);
    if (next && !next->empty()) {
      const auto size = static_cast<opus_int32>(std::min<std::size_t>(next->size(), 1 << 20));
      // RFC 6716 §2.1.7 / libopus: decode_fec=1 decodes the redundancy that
      // `next` carries for the frame before it.
      const int decoded =
          opus_decode(decoder_.get(), next->data(), size, out.data(), kFrameSamples, 1);
      if (decoded == kFrameSamples) return out;
    }
    const int decoded = opus_decode(decoder_.get(), nullptr, 0, out.data(), kFrameSamples, 0);
    if (decoded != kFrameSamples) std::fill(out.begin(), out.end(), 0);
    return out;
  }
  uint32_t clock_rate() const override { return kSampleRate; }

 private:
  std::unique_ptr<OpusDecoder, OpusDecoderDeleter> decoder_;
};

Result<std::unique_ptr<Encoder>> make_opus_encoder() {
  int error = OPUS_OK;
  OpusEncoder* raw = opus_encoder_create(kSampleRate, 1, OPUS_APPLICATION_VOIP, &error);
  if (error != OPUS_OK || raw == nullptr) {
    return fail(Errc::io, std::string("Opus encoder could not start: ") + opus_strerror(error));
  }
  auto encoder = std::make_unique<OpusVoiceEncoder>(raw);
  opus_encoder_ctl(raw, OPUS_SET_BITRATE(kOpusBitrate));
  opus_encoder_ctl(raw, OPUS_SET_INBAND_FEC(1));
  opus_encoder_ctl(raw, OPUS_SET_PACKET_LOSS_PERC(kOpusLossPercent));
  opus_encoder_ctl(raw, OPUS_SET_DTX(1));
  opus_encoder_ctl(raw, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
  return std::unique_ptr<Encoder>(std::move(encoder));
}

Result<std::unique_ptr<Decoder>> make_opus_decoder() {
  int error = OPUS_OK;
  OpusDecoder* raw = opus_decoder_create(kSampleRate, 1, &error);
  if (error != OPUS_OK || raw == nullptr) {
    return fail(Errc::io, std::string("Opus decoder could not start: ") + opus_strerror(error));
  }
  return std::unique_ptr<Decoder>(std::make_unique<OpusVoiceDecoder>(raw));
}

// --- G.711 with 48 kHz <-> 8 kHz resampling.

struct ResamplerDeleter {
  void operator()(SpeexResamplerState* state) const { speex_resampler_destroy(state); }
};
using ResamplerPtr = std::unique_ptr<SpeexResamplerState, ResamplerDeleter>;

ResamplerPtr make_resampler(int from, int to) {
  int error = 0;
  return ResamplerPtr(speex_resampler_init(1, static_cast<spx_uint32_t>(from),
                                           static_cast<spx_uint32_t>(to), kResamplerQuality,
                                           &error));
}

// Resamples one frame into exactly `out_samples` (the ratio is integral, so
// the resampler consumes the whole frame; a short output is padded).
std::vector<int16_t> resample(SpeexResamplerState* state, std::span<const int16_t> in,
                              std::size_t out_samples) {
  std::vector<int16_t> out(out_samples, 0);
  if (state == nullptr) return out;
  spx_uint32_t in_len = static_cast<spx_uint32_t>(in.size());
  spx_uint32_t out_len = static_cast<spx_uint32_t>(out.size());
  speex_resampler_process_int(state, 0, in.data(), &in_len, out.data(), &out_len);
  if (out_len > 0 && out_len < out.size()) {
    std::fill(out.begin() + out_len, out.end(), out[out_len - 1]);
  }
  return out;
}

enum class Law { ulaw, alaw };

class G711Encoder final : public Encoder {
 public:
  explicit G711Encoder(Law law) : law_(law), resampler_(make_resampler(kSampleRate, kG711Rate)) {}

  std::vector<uint8_t> encode(std::span<const int16_t> frame) override {
    const auto input = exact(frame, kFrameSamples);
    const auto narrow = resample(resampler_.get(), input, kG711FrameSamples);
    std::vector<uint8_t> out(narrow.size());
    std::transform(narrow.begin(), narrow.end(), out.begin(), [this](int16_t sample) {
      return law_ == Law::ulaw ? linear_to_ulaw(sample) : linear_to_alaw(sample);
    });
    return out;
  }
  uint32_t timestamp_step() const override { return kG711FrameSamples; }
  uint32_t clock_rate() const override { return kG711Rate; }

 private:
  Law law_;
  ResamplerPtr resampler_;
};

class G711Decoder final : public Decoder {
 public:
  explicit G711Decoder(Law law) : law_(law), resampler_(make_resampler(kG711Rate, kSampleRate)) {}

  Result<Pcm> decode(std::span<const uint8_t> payload) override {
    if (payload.empty()) return fail(Errc::protocol, "The G.711 packet is empty.");
    // At most 120 ms per packet, like Opus.
    if (payload.size() > static_cast<std::size_t>(kG711Rate / 1000 * 120)) {
      return fail(Errc::protocol, "The G.711 packet is longer than 120 ms.");
    }
    std::vector<int16_t> narrow(payload.size());
    std::transform(payload.begin(), payload.end(), narrow.begin(), [this](uint8_t code) {
      return law_ == Law::ulaw ? ulaw_to_linear(code) : alaw_to_linear(code);
    });
    auto out = resample(resampler_.get(), narrow, narrow.size() * (kSampleRate / kG711Rate));
    const std::size_t tail = std::min<std::size_t>(out.size(), kFrameSamples);
    last_.assign(out.end() - static_cast<std::ptrdiff_t>(tail), out.end());
    concealed_samples_ = 0;
    return out;
  }

  // Repeats the last frame, fading linearly to silence over 60 ms.
  Pcm conceal(std::optional<std::span<const uint8_t>>) override {
    Pcm out(kFrameSamples, 0);
    if (!last_.empty()) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        const int position = concealed_samples_ + static_cast<int>(i);
        if (position >= kG711FadeSamples) break;
        const int sample = last_[i % last_.size()];
        out[i] = static_cast<int16_t>(sample * (kG711FadeSamples - position) / kG711FadeSamples);
      }
    }
    concealed_samples_ = std::min(concealed_samples_ + kFrameSamples, kG711FadeSamples);
    return out;
  }
  uint32_t clock_rate() const override { return kG711Rate; }

 private:
  Law law_;
  ResamplerPtr resampler_;
  Pcm last_;
  int concealed_samples_ = 0;
};

}  // namespace

// ITU-T G.711, as in the ITU-T G.191 reference (g711.c): µ-law works on the
// 14 most significant bits, A-law on the 13 most significant bits.
uint8_t linear_to_ulaw(int16_t sample) {
  int magnitude = (sample < 0 ? (~static_cast<int>(sample)) >> 2 : sample >> 2) + 33;
  magnitude = std::min(magnitude, 0x1FFF);
  int segment = 1;
  for (int i = magnitude >> 6; i != 0; i >>= 1) ++segment;
  const int high = 8 - segment;
  const int low = 0x0F - ((magnitude >> segment) & 0x0F);
  int code = (high << 4) | low;
  if (sample >= 0) code |= 0x80;
  return static_cast<uint8_t>(code);
}

int16_t ulaw_to_linear(uint8_t code) {
  const int sign = code < 0x80 ? -1 : 1;
  const int inverted = ~static_cast<int>(code);
  const int exponent = (inverted >> 4) & 0x07;
  const int mantissa = inverted & 0x0F;
  const int step = 4 << (exponent + 1);
  return static_cast<int16_t>(sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33));
}

uint8_t linear_to_alaw(int16_t sample) {
  int magnitude = sample < 0 ? (~static_cast<int>(sample)) >> 4 : sample >> 4;  // 0..2047
  if (magnitude > 15) {
    int exponent = 1;
    while (magnitude > 16 + 15) {
      magnitude >>= 1;
      ++exponent;
    }
    magnitude -= 16;
    magnitude += exponent << 4;
  }
  if (sample >= 0) magnitude |= 0x80;
  return static_cast<uint8_t>(magnitude ^ 0x55);
}

int16_t alaw_to_linear(uint8_t code) {
  const int value = (code ^ 0x55) & 0x7F;
  const int exponent = value >> 4;
  int mantissa = value & 0x0F;
  if (exponent > 0) mantissa += 16;
  mantissa = (mantissa << 4) + 8;
  if (exponent > 1) mantissa <<= exponent - 1;
  return static_cast<int16_t>(code > 127 ? mantissa : -mantissa);
}

namespace {

enum class Kind { opus, pcmu, pcma };

// Which of our codecs `codec` names (case-insensitively, at its rate).
Result<Kind> kind_of(const sdp::Codec& codec) {
  if (same_name(codec.name, "opus") && codec.clock_rate == kSampleRate) return Kind::opus;
  if (codec.clock_rate == kG711Rate && codec.channels == 1) {
    if (same_name(codec.name, "PCMU")) return Kind::pcmu;
    if (same_name(codec.name, "PCMA")) return Kind::pcma;
  }
  return fail(Errc::not_supported, "The codec " + codec.name + "/" +
                                       std::to_string(codec.clock_rate) + " is not supported.");
}

}  // namespace

Result<std::unique_ptr<Encoder>> make_encoder(const sdp::Codec& codec) {
  auto kind = kind_of(codec);
  if (!kind) return Unexpected(kind.error());
  if (*kind == Kind::opus) return make_opus_encoder();
  return std::unique_ptr<Encoder>(
      std::make_unique<G711Encoder>(*kind == Kind::pcmu ? Law::ulaw : Law::alaw));
}

Result<std::unique_ptr<Decoder>> make_decoder(const sdp::Codec& codec) {
  auto kind = kind_of(codec);
  if (!kind) return Unexpected(kind.error());
  if (*kind == Kind::opus) return make_opus_decoder();
  return std::unique_ptr<Decoder>(
      std::make_unique<G711Decoder>(*kind == Kind::pcmu ? Law::ulaw : Law::alaw));
}

}  // namespace sotto::media
