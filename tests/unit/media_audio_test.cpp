// sotto::media audio (audio.h): WAV files, the file and null backends,
// resampling, echo cancellation and noise suppression, and the PulseAudio
// backend against a private PulseAudio server with a null sink.
#include "sotto/media/audio.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness/prosody.h"  // TempDir
#include "harness/pulse.h"
#include "sotto/media/codec.h"

namespace sotto::media {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void set32(std::string& bytes, std::size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    bytes[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
}

double power(std::span<const int16_t> samples) {
  double sum = 0;
  for (int16_t s : samples) sum += static_cast<double>(s) * s;
  return samples.empty() ? 0.0 : sum / static_cast<double>(samples.size());
}

// Deterministic white noise, uniform in [-amplitude, amplitude].
std::vector<int16_t> noise(std::size_t count, int amplitude, uint32_t seed = 12345) {
  std::vector<int16_t> out(count);
  uint32_t x = seed;
  for (auto& s : out) {
    x = x * 1664525u + 1013904223u;
    s = static_cast<int16_t>(static_cast<int>((x >> 16) % (2u * amplitude + 1)) - amplitude);
  }
  return out;
}

std::span<const int16_t> frame_at(const std::vector<int16_t>& pcm, std::size_t index) {
  return std::span<const int16_t>(pcm).subspan(index * kFrameSamples, kFrameSamples);
}

TEST(MediaAudio, TonesAreMeasuredByPitch) {
  const auto tone = make_tone(48000, 440, 0.5);
  ASSERT_EQ(tone.size(), 24000u);
  EXPECT_GT(tone_ratio(tone, 48000, 440), 0.95);
  EXPECT_LT(tone_ratio(tone, 48000, 460), 0.05);
  EXPECT_LT(tone_ratio(noise(24000, 8000), 48000, 440), 0.05);
  EXPECT_EQ(tone_ratio(std::vector<int16_t>(960, 0), 48000, 440), 0.0);
}

TEST(MediaAudio, WavRoundTrip) {
  test::TempDir dir("sotto-audio");
  Wav wav;
  wav.rate = 44100;
  wav.channels = 2;
  wav.samples = noise(2 * 4410, 30000);
  ASSERT_TRUE(write_wav(dir.path() / "a.wav", wav));
  auto back = read_wav(dir.path() / "a.wav");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->rate, 44100);
  EXPECT_EQ(back->channels, 2);
  EXPECT_EQ(back->samples, wav.samples);
  EXPECT_EQ(fs::file_size(dir.path() / "a.wav"), 44u + 2 * wav.samples.size());

  // Other chunks (LIST with an odd size and its pad byte, fact) before and
  // after the data are skipped.
  std::string bytes = bytes_of(dir.path() / "a.wav");
  const std::string list = std::string("LIST\x05\0\0\0", 8) + "INFOx" + std::string(1, '\0');
  const std::string fact = std::string("fact\x04\0\0\0", 8) + std::string(4, '\x11');
  bytes.insert(36, list);
  bytes += fact;
  set32(bytes, 4, static_cast<uint32_t>(bytes.size() - 8));
  write_bytes(dir.path() / "b.wav", bytes);
  back = read_wav(dir.path() / "b.wav");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->samples, wav.samples);
}

TEST(MediaAudio, MalformedWavRefused) {
  test::TempDir dir("sotto-audio");
  Wav wav;
  wav.rate = 8000;
  wav.samples = make_tone(8000, 440, 0.1);
  ASSERT_TRUE(write_wav(dir.path() / "good.wav", wav));
  const std::string good = bytes_of(dir.path() / "good.wav");
  auto refused = [&](const std::string& bytes, Errc code) {
    write_bytes(dir.path() / "bad.wav", bytes);
    auto result = read_wav(dir.path() / "bad.wav");
    if (result) return ::testing::AssertionFailure() << "accepted";
    if (result.error().code != code) {
      return ::testing::AssertionFailure() << "wrong code: " << result.error().message;
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused(good.substr(0, good.size() - 100), Errc::io));  // truncated
  EXPECT_TRUE(refused(good.substr(0, 30), Errc::io));
  EXPECT_TRUE(refused("", Errc::io));
  EXPECT_TRUE(refused("RIFX" + good.substr(4), Errc::io));
  std::string eight_bit = good;
  eight_bit[34] = 8;  // bits per sample
  eight_bit[32] = 1;  // block align
  EXPECT_TRUE(refused(eight_bit, Errc::not_supported));
  std::string float_format = good;
  float_format[20] = 3;  // IEEE float
  EXPECT_TRUE(refused(float_format, Errc::not_supported));
  std::string data_too_long = good;
  set32(data_too_long, 40, static_cast<uint32_t>(good.size()));
  EXPECT_TRUE(refused(data_too_long, Errc::io));
  std::string data_huge = good;
  set32(data_huge, 40, 0xffffffffu);
  EXPECT_TRUE(refused(data_huge, Errc::io));
  std::string fmt_short = good;
  set32(fmt_short, 16, 8);
  EXPECT_TRUE(refused(fmt_short, Errc::io));
  std::string riff_too_long = good;
  set32(riff_too_long, 4, static_cast<uint32_t>(good.size() + 10));
  EXPECT_TRUE(refused(riff_too_long, Errc::io));
  std::string odd_data = good;
  set32(odd_data, 40, static_cast<uint32_t>(good.size() - 44 - 1));
  EXPECT_TRUE(refused(odd_data, Errc::io));
  std::string no_data = good;
  no_data.replace(36, 4, "junk");
  EXPECT_TRUE(refused(no_data, Errc::io));

  auto missing = read_wav(dir.path() / "missing.wav");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::io);
  AudioOptions options;
  options.backend = AudioOptions::Backend::file;
  options.input_wav = dir.path() / "bad.wav";
  write_bytes(dir.path() / "bad.wav", eight_bit);
  auto port = open_audio(options);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::not_supported);
}

TEST(MediaAudio, FileBackendPlaysAn8kHzWavAt48kHz) {
  test::TempDir dir("sotto-audio");
  Wav wav;
  wav.rate = 8000;
  wav.samples = make_tone(8000, 440, 0.5);  // 4000 samples
  ASSERT_TRUE(write_wav(dir.path() / "tone.wav", wav));

  AudioOptions options;
  options.backend = AudioOptions::Backend::file;
  options.input_wav = dir.path() / "tone.wav";
  auto port = open_audio(options);
  ASSERT_TRUE(port) << port.error().message;
  std::vector<int16_t> heard;
  std::vector<int16_t> frame(kFrameSamples);
  for (int i = 0; i < 40; ++i) {  // 0.8 s
    (*port)->capture(frame);
    heard.insert(heard.end(), frame.begin(), frame.end());
  }
  // The tone, at its pitch, for 0.5 s (24000 samples at 48 kHz), then silence.
  const std::span<const int16_t> tone(heard.data() + 480, 23000);
  EXPECT_GT(tone_ratio(tone, 48000, 440), 0.95);
  EXPECT_LT(tone_ratio(tone, 48000, 455), 0.05);
  std::size_t last = 0;
  for (std::size_t i = 0; i < heard.size(); ++i) {
    if (std::abs(heard[i]) > 200) last = i;
  }
  EXPECT_NEAR(static_cast<double>(last), 24000.0, 100.0);
  EXPECT_EQ(power(std::span<const int16_t>(heard).subspan(24100)), 0.0);

  // Looping: the tone comes again.
  options.loop_input = true;
  port = open_audio(options);
  ASSERT_TRUE(port);
  heard.clear();
  for (int i = 0; i < 60; ++i) {
    (*port)->capture(frame);
    heard.insert(heard.end(), frame.begin(), frame.end());
  }
  EXPECT_GT(tone_ratio(std::span<const int16_t>(heard).subspan(24000 + 480, 23000), 48000, 440),
            0.9);

  // Stereo: averaged to mono.
  wav.channels = 2;
  wav.rate = 48000;
  wav.samples.clear();
  for (int16_t s : make_tone(48000, 440, 0.2)) {
    wav.samples.push_back(s);
    wav.samples.push_back(s);
  }
  ASSERT_TRUE(write_wav(dir.path() / "stereo.wav", wav));
  options.loop_input = false;
  options.input_wav = dir.path() / "stereo.wav";
  port = open_audio(options);
  ASSERT_TRUE(port);
  (*port)->capture(frame);
  EXPECT_EQ(std::vector<int16_t>(frame.begin(), frame.end()),
            std::vector<int16_t>(make_tone(48000, 440, 0.02)));
}

TEST(MediaAudio, FileBackendWritesAValidWav) {
  test::TempDir dir("sotto-audio");
  const auto tone = make_tone(48000, 440, 1.0);
  for (int rate : {48000, 16000, 8000}) {
    SCOPED_TRACE(rate);
    AudioOptions options;
    options.backend = AudioOptions::Backend::file;
    options.output_wav = dir.path() / ("out" + std::to_string(rate) + ".wav");
    options.output_rate = rate;
    auto port = open_audio(options);
    ASSERT_TRUE(port) << port.error().message;
    std::vector<int16_t> frame(kFrameSamples);
    for (std::size_t i = 0; i < 50; ++i) {
      (*port)->play(frame_at(tone, i));
      (*port)->capture(frame);  // no input: silence
      EXPECT_EQ(power(frame), 0.0);
    }
    (*port)->close();
    (*port)->close();  // idempotent
    auto wav = read_wav(*options.output_wav);
    ASSERT_TRUE(wav) << wav.error().message;
    EXPECT_EQ(wav->rate, rate);
    EXPECT_EQ(wav->channels, 1);
    EXPECT_NEAR(static_cast<double>(wav->samples.size()), rate * 1.0, 2.0);
    const std::size_t skip = static_cast<std::size_t>(rate / 50);
    EXPECT_GT(tone_ratio(std::span<const int16_t>(wav->samples).subspan(skip), rate, 440), 0.95);
    port->reset();  // the destructor closes again: the file stays valid
    EXPECT_TRUE(read_wav(*options.output_wav));
  }

  AudioOptions options;
  options.backend = AudioOptions::Backend::file;
  options.output_wav = dir.path() / "no" / "such" / "dir.wav";
  auto port = open_audio(options);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::io);
}

TEST(MediaAudio, NullBackendIsSilent) {
  auto port = open_audio({});
  ASSERT_TRUE(port);
  std::vector<int16_t> frame(kFrameSamples, 7);
  (*port)->play(frame);
  (*port)->capture(frame);
  EXPECT_EQ(power(frame), 0.0);
}

TEST(MediaAudio, ResamplerKeepsPitch) {
  const auto tone = make_tone(48000, 440, 1.0);
  Resampler down(48000, 8000);
  std::vector<int16_t> low;
  for (std::size_t i = 0; i < 50; ++i) {
    auto out = down.process(frame_at(tone, i));
    low.insert(low.end(), out.begin(), out.end());
  }
  EXPECT_NEAR(static_cast<double>(low.size()), 8000.0, 2.0);
  EXPECT_GT(tone_ratio(std::span<const int16_t>(low).subspan(160), 8000, 440), 0.95);

  Resampler up(8000, 48000);
  std::vector<int16_t> high;
  for (std::size_t i = 0; i + 160 <= low.size(); i += 160) {
    auto out = up.process(std::span<const int16_t>(low).subspan(i, 160));
    high.insert(high.end(), out.begin(), out.end());
  }
  EXPECT_GT(tone_ratio(std::span<const int16_t>(high).subspan(1920), 48000, 440), 0.95);
  EXPECT_LT(tone_ratio(std::span<const int16_t>(high).subspan(1920), 48000, 455), 0.05);

  // Drift: +0.5 % consumes the input faster, i.e. gives 0.5 % fewer samples.
  Resampler same(48000, 48000);
  same.set_drift(5000);
  std::size_t produced = 0;
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < 50; ++i) produced += same.process(frame_at(tone, i)).size();
  }
  EXPECT_NEAR(static_cast<double>(produced), 4 * 48000 / 1.005, 60.0);
}

TEST(MediaAudio, VoiceProcessorOffIsIdentity) {
  VoiceProcessor vp(false, false);
  const auto in = noise(10 * kFrameSamples, 10000);
  const auto echo = noise(10 * kFrameSamples, 10000, 99);
  for (std::size_t i = 0; i < 10; ++i) {
    std::vector<int16_t> frame(frame_at(in, i).begin(), frame_at(in, i).end());
    vp.process(frame, frame_at(echo, i));
    EXPECT_TRUE(std::equal(frame.begin(), frame.end(), frame_at(in, i).begin()));
  }
}

TEST(MediaAudio, EchoCancellationRemovesAPureEcho) {
  VoiceProcessor vp(true, false);
  const std::size_t frames = 200;  // 4 s
  const auto far = noise(frames * kFrameSamples, 8000);
  double in_power = 0;
  double out_power = 0;
  for (std::size_t i = 0; i < frames; ++i) {
    std::vector<int16_t> captured(frame_at(far, i).begin(), frame_at(far, i).end());
    vp.process(captured, frame_at(far, i));
    if (i >= frames - 50) {  // the last second, after convergence
      in_power += power(frame_at(far, i));
      out_power += power(captured);
    }
  }
  // At least 20 dB down.
  EXPECT_LT(out_power, in_power / 100) << 10 * std::log10(in_power / std::max(out_power, 1.0));
}

TEST(MediaAudio, NoiseSuppressionReducesWhiteNoise) {
  VoiceProcessor vp(false, true);
  const std::size_t frames = 150;
  const auto hiss = noise(frames * kFrameSamples, 3000);
  const std::vector<int16_t> silence(kFrameSamples, 0);
  double in_power = 0;
  double out_power = 0;
  for (std::size_t i = 0; i < frames; ++i) {
    std::vector<int16_t> frame(frame_at(hiss, i).begin(), frame_at(hiss, i).end());
    vp.process(frame, silence);
    if (i >= frames - 50) {
      in_power += power(frame_at(hiss, i));
      out_power += power(frame);
    }
  }
  EXPECT_LT(out_power, in_power / 4);  // at least 6 dB
}

TEST(MediaAudio, VoiceProcessingKeepsAToneItsPitch) {
  VoiceProcessor vp(true, true);
  const auto tone = make_tone(48000, 440, 2.0);
  const std::vector<int16_t> silence(kFrameSamples, 0);
  std::vector<int16_t> out;
  for (std::size_t i = 0; i < 100; ++i) {
    std::vector<int16_t> frame(frame_at(tone, i).begin(), frame_at(tone, i).end());
    vp.process(frame, silence);
    out.insert(out.end(), frame.begin(), frame.end());
  }
  const std::span<const int16_t> last(out.data() + 48000, 48000);
  // (The denoiser takes a steady tone for noise and lowers it; its pitch
  // stays.)
  EXPECT_GT(tone_ratio(last, 48000, 440), 0.9);
  EXPECT_GT(power(last), 0.0);
}

// ---------------------------------------------------------------------------
// PulseAudio

class Events {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& text) {
      std::lock_guard lock(mutex_);
      events_.push_back(text);
    };
  }
  bool contains(const std::string& word) {
    std::lock_guard lock(mutex_);
    return std::any_of(events_.begin(), events_.end(),
                       [&](const std::string& e) { return e.find(word) != std::string::npos; });
  }
  std::string all() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : events_) out += e + "; ";
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> events_;
};

// A capture() or play() this slow waited on the server: they must never
// (PulseAudio's own timeouts are seconds). Not a speed figure.
constexpr auto kBlocked = std::chrono::seconds(1);

// Plays a 440 Hz tone into the port every 20 ms (real time: the null sink
// consumes at its clock) and captures; true once most of the last 15 frames
// captured hold the tone at its pitch (frame by frame, so that a scheduling
// hiccup on a loaded machine does not spoil the whole window). Every
// capture() must return at once.
bool hears_tone(AudioPort& port, std::chrono::milliseconds timeout) {
  const auto tone = make_tone(48000, 440, 1.0);
  std::vector<bool> heard;
  std::vector<int16_t> frame(kFrameSamples);
  const auto start = Clock::now();
  auto tick = start;
  for (std::size_t i = 0; Clock::now() - start < timeout; ++i) {
    port.play(frame_at(tone, i % 50));
    const auto before = Clock::now();
    port.capture(frame);
    EXPECT_LT(Clock::now() - before, kBlocked);
    heard.push_back(power(frame) > 1e6 && tone_ratio(frame, 48000, 440) > 0.8 &&
                    tone_ratio(frame, 48000, 300) < 0.05 && tone_ratio(frame, 48000, 600) < 0.05);
    if (heard.size() >= 15 && std::count(heard.end() - 15, heard.end(), true) >= 12) return true;
    tick += 20ms;
    std::this_thread::sleep_until(tick);  // the media thread's 20 ms timer
  }
  return false;
}

TEST(MediaAudio, PulseWithoutServerIsANetworkError) {
  test::TempDir dir("sotto-audio");
  test::ScopedPulseServer env("unix:" + (dir.path() / "nothing-here").string());
  const auto start = Clock::now();
  AudioOptions options;
  options.backend = AudioOptions::Backend::pulse;
  auto port = open_audio(options);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().code, Errc::network);
  EXPECT_TRUE(list_audio_devices().empty());
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST(MediaAudio, PulseListsDevicesAndPlaysIntoCapture) {
  test::PulseServer server;
  test::ScopedPulseServer env(server.server());
  const auto devices = list_audio_devices();
  EXPECT_TRUE(std::any_of(devices.begin(), devices.end(), [&](const AudioDeviceInfo& d) {
    return d.name == server.sink() && !d.input && !d.description.empty();
  }));
  EXPECT_FALSE(std::any_of(devices.begin(), devices.end(), [](const AudioDeviceInfo& d) {
    return d.name.find(".monitor") != std::string::npos;
  }));

  Events events;
  AudioOptions options;
  options.backend = AudioOptions::Backend::pulse;
  options.output_device = server.sink();
  options.input_device = server.monitor();
  options.on_device_event = events.sink();
  auto port = open_audio(options);
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_TRUE(hears_tone(**port, 3s)) << server.log_contents();
  (*port)->close();
  (*port)->close();
  EXPECT_EQ(events.all(), "");
}

TEST(MediaAudio, PulseServerLossGivesSilenceUntilItComesBack) {
  test::PulseServer server;
  test::ScopedPulseServer env(server.server());
  Events events;
  AudioOptions options;
  options.backend = AudioOptions::Backend::pulse;
  options.output_device = server.sink();
  options.input_device = server.monitor();
  options.on_device_event = events.sink();
  auto port = open_audio(options);
  ASSERT_TRUE(port) << port.error().message;
  ASSERT_TRUE(hears_tone(**port, 3s));

  server.kill();
  std::vector<int16_t> frame(kFrameSamples);
  const auto deadline = Clock::now() + 3s;
  while (!events.contains("went away") && Clock::now() < deadline) {
    (*port)->capture(frame);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(events.contains("went away")) << events.all();
  // What was in the ring drains; then silence, and no call blocks.
  for (int i = 0; i < 10; ++i) (*port)->capture(frame);
  for (int i = 0; i < 20; ++i) {
    const auto before = Clock::now();
    (*port)->play(frame);
    (*port)->capture(frame);
    EXPECT_LT(Clock::now() - before, kBlocked);
    EXPECT_EQ(power(frame), 0.0);
  }

  // The server comes back: so does the sound.
  server.start();
  const auto back = Clock::now() + 5s;
  while (!events.contains("is back") && Clock::now() < back) {
    (*port)->capture(frame);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(events.contains("is back")) << events.all();
  EXPECT_TRUE(hears_tone(**port, 3s)) << events.all();
}

}  // namespace
}  // namespace sotto::media
