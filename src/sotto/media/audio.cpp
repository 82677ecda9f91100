#include "sotto/media/audio.h"

#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <numbers>
#include <numeric>

#include "sotto/media/codec.h"
#include "sotto/media/pulse.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media.audio";
constexpr std::size_t kMaxWavBytes = std::size_t{1} << 30;  // 1 GiB
constexpr int kMaxRate = 384000;

uint32_t le32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

void put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}

// The 44-byte header of a 16-bit PCM WAV holding `data_bytes`.
std::string wav_header(int rate, int channels, uint32_t data_bytes) {
  std::string h;
  h += "RIFF";
  put32(h, 36 + data_bytes);
  h += "WAVEfmt ";
  put32(h, 16);
  put16(h, 1);  // PCM
  put16(h, static_cast<uint16_t>(channels));
  put32(h, static_cast<uint32_t>(rate));
  put32(h, static_cast<uint32_t>(rate * channels * 2));
  put16(h, static_cast<uint16_t>(channels * 2));
  put16(h, 16);
  h += "data";
  put32(h, data_bytes);
  return h;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// A whole signal from one rate to another, without the resampler's delay:
// round(n * to / from) samples aligned with the input.
std::vector<int16_t> resample_all(std::span<const int16_t> in, int from, int to) {
  if (from == to) return {in.begin(), in.end()};
  int error = 0;
  SpeexResamplerState* st = speex_resampler_init(1, static_cast<spx_uint32_t>(from),
                                                 static_cast<spx_uint32_t>(to), 5, &error);
  if (st == nullptr) return {};
  const auto skip = static_cast<std::size_t>(speex_resampler_get_output_latency(st));
  const auto pad = static_cast<std::size_t>(speex_resampler_get_input_latency(st));
  std::vector<int16_t> padded(in.begin(), in.end());
  padded.resize(in.size() + pad + 1, 0);
  const auto want =
      static_cast<std::size_t>(std::llround(static_cast<double>(in.size()) * to / from));
  std::vector<int16_t> out(want + skip + 64);
  spx_uint32_t in_len = static_cast<spx_uint32_t>(padded.size());
  spx_uint32_t out_len = static_cast<spx_uint32_t>(out.size());
  speex_resampler_process_int(st, 0, padded.data(), &in_len, out.data(), &out_len);
  speex_resampler_destroy(st);
  out.resize(out_len);
  std::vector<int16_t> result;
  if (out.size() > skip) result.assign(out.begin() + static_cast<std::ptrdiff_t>(skip), out.end());
  result.resize(want, 0);
  return result;
}

// ---------------------------------------------------------------------------
// Backends

class NullPort final : public AudioPort {
 public:
  void capture(std::span<int16_t> frame) override { std::fill(frame.begin(), frame.end(), 0); }
  void play(std::span<const int16_t>) override {}
  void close() override {}
};

class FilePort final : public AudioPort {
 public:
  FilePort(std::vector<int16_t> input, bool loop, std::FILE* output, int output_rate,
           std::filesystem::path output_path)
      : input_(std::move(input)),
        loop_(loop),
        output_(output),
        output_rate_(output_rate),
        output_path_(std::move(output_path)) {
    if (output_ != nullptr && output_rate_ != kSampleRate) {
      resampler_ = std::make_unique<Resampler>(kSampleRate, output_rate_);
    }
  }
  ~FilePort() override { close(); }

  void capture(std::span<int16_t> frame) override {
    std::size_t done = 0;
    while (done < frame.size()) {
      if (position_ >= input_.size()) {
        if (!loop_ || input_.empty()) break;
        position_ = 0;
      }
      const std::size_t n = std::min(frame.size() - done, input_.size() - position_);
      std::copy_n(input_.begin() + static_cast<std::ptrdiff_t>(position_), n,
                  frame.begin() + static_cast<std::ptrdiff_t>(done));
      position_ += n;
      done += n;
    }
    std::fill(frame.begin() + static_cast<std::ptrdiff_t>(done), frame.end(), 0);
  }

  void play(std::span<const int16_t> frame) override {
    if (output_ == nullptr) return;
    if (resampler_) {
      write(resampler_->process(frame));
    } else {
      write(frame);
    }
    // Keep the header current now and then, so that a crash leaves a
    // readable file.
    if (++frames_since_header_ >= 50) {
      frames_since_header_ = 0;
      patch_header();
    }
  }

  void close() override {
    if (output_ == nullptr) return;
    patch_header();
    if (std::fclose(output_) != 0 && !failed_) {
      log::warn(kLog, errno_text("closing " + output_path_.string()));
    }
    output_ = nullptr;
  }

 private:
  void write(std::span<const int16_t> samples) {
    if (failed_ || samples.empty()) return;
    // The data chunk's size is a 32-bit field: stop before it overflows.
    const uint64_t room = (uint64_t{0xffffffff} - 44 - data_bytes_) / 2;
    const std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(samples.size(), room));
    std::string bytes;
    bytes.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) put16(bytes, static_cast<uint16_t>(samples[i]));
    if (std::fwrite(bytes.data(), 1, bytes.size(), output_) != bytes.size()) {
      failed_ = true;
      log::warn(kLog, errno_text("writing " + output_path_.string()));
      return;
    }
    data_bytes_ += bytes.size();
  }

  void patch_header() {
    if (failed_) return;
    const std::string header = wav_header(output_rate_, 1, static_cast<uint32_t>(data_bytes_));
    if (std::fflush(output_) != 0 || std::fseek(output_, 0, SEEK_SET) != 0 ||
        std::fwrite(header.data(), 1, header.size(), output_) != header.size() ||
        std::fseek(output_, 0, SEEK_END) != 0 || std::fflush(output_) != 0) {
      failed_ = true;
      log::warn(kLog, errno_text("writing " + output_path_.string()));
    }
  }

  std::vector<int16_t> input_;
  std::size_t position_ = 0;
  bool loop_;
  std::FILE* output_;
  int output_rate_;
  std::filesystem::path output_path_;
  std::unique_ptr<Resampler> resampler_;
  uint64_t data_bytes_ = 0;
  int frames_since_header_ = 0;
  bool failed_ = false;
};

Result<std::unique_ptr<AudioPort>> open_file(const AudioOptions& options) {
  std::vector<int16_t> input;
  if (options.input_wav) {
    auto wav = read_wav(*options.input_wav);
    if (!wav) return Unexpected(wav.error());
    std::vector<int16_t> mono;
    if (wav->channels == 2) {
      mono.reserve(wav->samples.size() / 2);
      for (std::size_t i = 0; i + 1 < wav->samples.size(); i += 2) {
        mono.push_back(static_cast<int16_t>((int{wav->samples[i]} + int{wav->samples[i + 1]}) / 2));
      }
    } else {
      mono = std::move(wav->samples);
    }
    input = resample_all(mono, wav->rate, kSampleRate);
  }
  const int rate = options.output_rate;
  if (rate != 8000 && rate != 16000 && rate != 48000) {
    return fail(Errc::invalid_argument,
                "the output rate must be 8000, 16000 or 48000 Hz, not " + std::to_string(rate));
  }
  std::FILE* output = nullptr;
  if (options.output_wav) {
    output = std::fopen(options.output_wav->c_str(), "wb");
    if (output == nullptr) {
      return fail(Errc::io, errno_text("cannot write " + options.output_wav->string()));
    }
    const std::string header = wav_header(rate, 1, 0);
    if (std::fwrite(header.data(), 1, header.size(), output) != header.size()) {
      std::fclose(output);
      return fail(Errc::io, errno_text("cannot write " + options.output_wav->string()));
    }
  }
  return std::unique_ptr<AudioPort>(
      std::make_unique<FilePort>(std::move(input), options.loop_input, output, rate,
                                 options.output_wav.value_or(std::filesystem::path{})));
}

}  // namespace

Result<std::unique_ptr<AudioPort>> open_audio(const AudioOptions& options) {
  switch (options.backend) {
    case AudioOptions::Backend::null:
      return std::unique_ptr<AudioPort>(std::make_unique<NullPort>());
    case AudioOptions::Backend::file:
      return open_file(options);
    case AudioOptions::Backend::pulse:
      return detail::open_pulse(options);
  }
  return fail(Errc::invalid_argument, "unknown audio backend");
}

// ---------------------------------------------------------------------------
// WAV

Result<Wav> read_wav(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(Errc::io, errno_text("cannot read " + path.string()));
  std::string bytes;
  {
    char buffer[65536];
    while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
      bytes.append(buffer, static_cast<std::size_t>(file.gcount()));
      if (bytes.size() > kMaxWavBytes) return fail(Errc::io, path.string() + " is too large");
    }
    if (file.bad()) return fail(Errc::io, errno_text("cannot read " + path.string()));
  }
  const std::string name = path.filename().string();
  auto malformed = [&](const std::string& why) {
    return fail(Errc::io, name + " is not a valid WAV file: " + why);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 12 || std::memcmp(p, "RIFF", 4) != 0 || std::memcmp(p + 8, "WAVE", 4) != 0) {
    return malformed("no RIFF/WAVE header");
  }
  const uint64_t riff_size = le32(p + 4);
  if (riff_size < 4 || riff_size + 8 > bytes.size()) {
    return malformed("the RIFF size does not match the file (truncated?)");
  }
  const std::size_t end = static_cast<std::size_t>(riff_size + 8);
  std::size_t pos = 12;
  bool have_format = false;
  int channels = 0;
  int rate = 0;
  std::optional<std::pair<std::size_t, std::size_t>> data;  // offset, size
  while (pos < end) {
    if (end - pos < 8) return malformed("a chunk header is cut off");
    const unsigned char* chunk = p + pos;
    const uint64_t size = le32(chunk + 4);
    if (size > end - pos - 8) {
      return malformed("the '" + std::string(reinterpret_cast<const char*>(chunk), 4) +
                       "' chunk runs past the end of the file");
    }
    const unsigned char* body = chunk + 8;
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      if (have_format) return malformed("two format chunks");
      if (size < 16) return malformed("the format chunk is too short");
      uint16_t format = le16(body);
      channels = le16(body + 2);
      rate = static_cast<int>(std::min<uint32_t>(le32(body + 4), kMaxRate + 1));
      const uint16_t block_align = le16(body + 12);
      const uint16_t bits = le16(body + 14);
      if (format == 0xfffe) {  // WAVE_FORMAT_EXTENSIBLE: the sub-format decides
        if (size < 40) return malformed("the extensible format chunk is too short");
        format = le16(body + 24);
      }
      if (format != 1) {
        return fail(Errc::not_supported,
                    name + " is not PCM (format " + std::to_string(format) + ")");
      }
      if (bits != 16) {
        return fail(Errc::not_supported, name + " has " + std::to_string(bits) +
                                             "-bit samples; only 16-bit is supported");
      }
      if (channels != 1 && channels != 2) {
        return fail(Errc::not_supported, name + " has " + std::to_string(channels) +
                                             " channels; only mono and stereo are supported");
      }
      if (rate < 1000 || rate > kMaxRate) {
        return malformed("the sample rate " + std::to_string(rate) + " Hz is out of range");
      }
      if (block_align != channels * 2) return malformed("the block alignment is wrong");
      have_format = true;
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      if (data) return malformed("two data chunks");
      data = std::pair{pos + 8, static_cast<std::size_t>(size)};
    }
    // Anything else (LIST, fact, cue, ...) is skipped; chunks are padded to
    // an even size.
    pos += 8 + static_cast<std::size_t>(size) + (size & 1);
    if (pos > end) pos = end;  // a final odd chunk without its pad byte
  }
  if (!have_format) return malformed("no format chunk");
  if (!data) return malformed("no data chunk");
  const std::size_t frame_bytes = static_cast<std::size_t>(channels) * 2;
  if (data->second % frame_bytes != 0) {
    return malformed("the data size is not a whole number of samples");
  }
  Wav wav;
  wav.rate = rate;
  wav.channels = channels;
  wav.samples.resize(data->second / 2);
  for (std::size_t i = 0; i < wav.samples.size(); ++i) {
    wav.samples[i] = static_cast<int16_t>(le16(p + data->first + 2 * i));
  }
  return wav;
}

Result<void> write_wav(const std::filesystem::path& path, const Wav& wav) {
  if ((wav.channels != 1 && wav.channels != 2) || wav.rate <= 0 || wav.rate > kMaxRate ||
      wav.samples.size() % static_cast<std::size_t>(wav.channels) != 0 ||
      wav.samples.size() * 2 > 0xffffffffULL - 36) {
    return fail(Errc::invalid_argument, "not a WAV that can be written");
  }
  std::string bytes =
      wav_header(wav.rate, wav.channels, static_cast<uint32_t>(wav.samples.size() * 2));
  bytes.reserve(bytes.size() + wav.samples.size() * 2);
  for (int16_t s : wav.samples) put16(bytes, static_cast<uint16_t>(s));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return fail(Errc::io, errno_text("cannot write " + path.string()));
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return fail(Errc::io, errno_text("cannot write " + path.string()));
  return {};
}

// ---------------------------------------------------------------------------
// Resampler

struct Resampler::Impl {
  SpeexResamplerState* state = nullptr;
  int from = 0;
  int to = 0;
  int drift = 0;
};

Resampler::Resampler(int from_rate, int to_rate) : impl_(std::make_unique<Impl>()) {
  impl_->from = from_rate;
  impl_->to = to_rate;
  int error = 0;
  impl_->state = speex_resampler_init(1, static_cast<spx_uint32_t>(from_rate),
                                      static_cast<spx_uint32_t>(to_rate), 5, &error);
  if (impl_->state == nullptr) {
    log::error(kLog, "speex_resampler_init(" + std::to_string(from_rate) + ", " +
                         std::to_string(to_rate) + "): " + speex_resampler_strerror(error));
  }
}

Resampler::~Resampler() {
  if (impl_->state != nullptr) speex_resampler_destroy(impl_->state);
}

std::vector<int16_t> Resampler::process(std::span<const int16_t> in) {
  if (impl_->state == nullptr) return {};
  std::vector<int16_t> out;
  const double ratio = static_cast<double>(impl_->to) / impl_->from;
  out.resize(static_cast<std::size_t>(static_cast<double>(in.size()) * ratio * 1.01) + 16);
  std::size_t consumed = 0;
  std::size_t produced = 0;
  while (consumed < in.size()) {
    if (produced == out.size()) out.resize(out.size() * 2 + 16);
    spx_uint32_t in_len = static_cast<spx_uint32_t>(in.size() - consumed);
    spx_uint32_t out_len = static_cast<spx_uint32_t>(out.size() - produced);
    speex_resampler_process_int(impl_->state, 0, in.data() + consumed, &in_len,
                                out.data() + produced, &out_len);
    if (in_len == 0 && out_len == 0) break;
    consumed += in_len;
    produced += out_len;
  }
  out.resize(produced);
  return out;
}

void Resampler::set_drift(int ppm) {
  ppm = std::clamp(ppm, -100000, 100000);
  if (impl_->state == nullptr || ppm == impl_->drift) return;
  impl_->drift = ppm;
  // The input runs `ppm` faster: each output sample advances the input by
  // from/to * (1 + ppm/1e6).
  const uint64_t g = std::gcd(static_cast<uint64_t>(impl_->from), static_cast<uint64_t>(impl_->to));
  uint64_t num = static_cast<uint64_t>(impl_->from) / g * static_cast<uint64_t>(1000000 + ppm);
  uint64_t den = static_cast<uint64_t>(impl_->to) / g * 1000000;
  const uint64_t r = std::gcd(num, den);
  num /= r;
  den /= r;
  while (num > std::numeric_limits<spx_uint32_t>::max() ||
         den > std::numeric_limits<spx_uint32_t>::max()) {
    num /= 2;
    den /= 2;
  }
  speex_resampler_set_rate_frac(
      impl_->state, static_cast<spx_uint32_t>(num), static_cast<spx_uint32_t>(den),
      static_cast<spx_uint32_t>(impl_->from), static_cast<spx_uint32_t>(impl_->to));
}

// ---------------------------------------------------------------------------
// VoiceProcessor

struct VoiceProcessor::Impl {
  SpeexEchoState* echo = nullptr;
  SpeexPreprocessState* pre = nullptr;
  bool echo_on = false;
  bool noise_on = false;
  std::vector<int16_t> out = std::vector<int16_t>(kFrameSamples);

  void configure() {
    spx_int32_t denoise = noise_on ? 1 : 0;
    speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_DENOISE, &denoise);
    speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_ECHO_STATE, echo_on ? echo : nullptr);
  }
};

VoiceProcessor::VoiceProcessor(bool echo_cancellation, bool noise_suppression)
    : impl_(std::make_unique<Impl>()) {
  impl_->echo = speex_echo_state_init(kFrameSamples, kSampleRate / 5);  // 200 ms tail
  spx_int32_t rate = kSampleRate;
  speex_echo_ctl(impl_->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
  impl_->pre = speex_preprocess_state_init(kFrameSamples, kSampleRate);
  spx_int32_t off = 0;
  speex_preprocess_ctl(impl_->pre, SPEEX_PREPROCESS_SET_AGC, &off);
  speex_preprocess_ctl(impl_->pre, SPEEX_PREPROCESS_SET_DEREVERB, &off);
  impl_->echo_on = echo_cancellation;
  impl_->noise_on = noise_suppression;
  impl_->configure();
}

VoiceProcessor::~VoiceProcessor() {
  speex_preprocess_state_destroy(impl_->pre);
  speex_echo_state_destroy(impl_->echo);
}

void VoiceProcessor::process(std::span<int16_t> captured, std::span<const int16_t> played) {
  if (captured.size() != static_cast<std::size_t>(kFrameSamples)) return;
  if (impl_->echo_on && played.size() == captured.size()) {
    speex_echo_cancellation(impl_->echo, captured.data(), played.data(), impl_->out.data());
    std::copy(impl_->out.begin(), impl_->out.end(), captured.begin());
  }
  if (impl_->echo_on || impl_->noise_on) speex_preprocess_run(impl_->pre, captured.data());
}

void VoiceProcessor::set_echo_cancellation(bool on) {
  if (on == impl_->echo_on) return;
  impl_->echo_on = on;
  if (on) speex_echo_state_reset(impl_->echo);
  impl_->configure();
}

void VoiceProcessor::set_noise_suppression(bool on) {
  if (on == impl_->noise_on) return;
  impl_->noise_on = on;
  impl_->configure();
}

// ---------------------------------------------------------------------------
// Tones

double tone_ratio(std::span<const int16_t> samples, int rate, double frequency) {
  const std::size_t n = samples.size();
  if (n < 2 || rate <= 0) return 0.0;
  // Goertzel over a Hann window, normalized so that a pure tone gives 1.
  const double w = 2.0 * std::numbers::pi * frequency / rate;
  const double coefficient = 2.0 * std::cos(w);
  double s1 = 0.0;
  double s2 = 0.0;
  double sum_w = 0.0;
  double sum_w2 = 0.0;
  double power = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double win = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) /
                                            static_cast<double>(n - 1));
    const double x = win * samples[i];
    const double s0 = x + coefficient * s1 - s2;
    s2 = s1;
    s1 = s0;
    sum_w += win;
    sum_w2 += win * win;
    power += x * x;
  }
  if (power <= 0.0 || sum_w <= 0.0) return 0.0;
  const double re = s1 - s2 * std::cos(w);
  const double im = s2 * std::sin(w);
  const double tone = re * re + im * im;
  const double ratio = tone / power * 2.0 * sum_w2 / (sum_w * sum_w);
  return std::clamp(ratio, 0.0, 1.0);
}

double strongest_tone_ratio(std::span<const int16_t> samples, int rate, double frequency,
                            double window_seconds) {
  const auto window = static_cast<std::size_t>(std::max(2.0, window_seconds * rate));
  double best = 0.0;
  for (std::size_t at = 0; at + window <= samples.size(); at += window / 2) {
    best = std::max(best, tone_ratio(samples.subspan(at, window), rate, frequency));
  }
  return best;
}

std::vector<int16_t> make_tone(int rate, double frequency, double seconds, int amplitude) {
  const auto n = static_cast<std::size_t>(std::max(0.0, std::round(seconds * rate)));
  std::vector<int16_t> out(n);
  const double a = std::clamp(amplitude, 0, 32767);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<int16_t>(std::lround(
        a * std::sin(2.0 * std::numbers::pi * frequency * static_cast<double>(i) / rate)));
  }
  return out;
}

}  // namespace sotto::media
