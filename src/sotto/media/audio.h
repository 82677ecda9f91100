// Private to sotto/media: audio devices and voice processing.
//
// The media thread moves 20 ms frames (kFrameSamples of 48 kHz mono int16,
// see codec.h) in and out of an AudioPort on its own 20 ms timer. Backends:
//  - null: capture gives silence, playback is discarded;
//  - file: capture plays a WAV file (PCM 16-bit, mono or stereo, any rate:
//    converted to 48 kHz mono), then silence (or loops); playback is written
//    to a WAV file (16-bit mono, at the rate asked, 48 kHz by default), the
//    header fixed up on close() so that a reader sees a valid file at once;
//  - pulse: PulseAudio through a pa_threaded_mainloop. Its callbacks only
//    move samples through lock-free single-producer single-consumer rings;
//    the device's clock and ours drift apart, so the ring fill level steers
//    a speexdsp resampler's ratio (within +-0.5 %) to hold the level near
//    40 ms. A device that goes away (unplugged, server restarted) is
//    reported and the port keeps working with silence until it comes back.
//
// One AudioPort per call (a later mixer shares a device between calls).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::media {

class AudioPort {
 public:
  virtual ~AudioPort() = default;
  // Fills `frame` (kFrameSamples) with the next 20 ms of microphone audio:
  // silence when nothing is there (underrun), never blocks.
  virtual void capture(std::span<int16_t> frame) = 0;
  // Queues 20 ms of audio for the speaker; never blocks (drops the oldest
  // audio when the ring is full).
  virtual void play(std::span<const int16_t> frame) = 0;
  // Flushes (the file backend writes its header). Idempotent; the
  // destructor calls it.
  virtual void close() = 0;
};

struct AudioOptions {
  enum class Backend { null, file, pulse } backend = Backend::null;
  // file backend
  std::optional<std::filesystem::path> input_wav;  // none: silence
  bool loop_input = false;
  std::optional<std::filesystem::path> output_wav;  // none: discard
  int output_rate = 48000;                          // 8000, 16000 or 48000
  // pulse backend: device names (pa sink/source names); empty = default.
  std::string input_device;
  std::string output_device;
  // Called (from any thread) when a device appears, goes away or fails, with
  // a line for people: "the microphone was unplugged".
  std::function<void(const std::string&)> on_device_event;
};

// Opens a port. Errors: Errc::io for an unreadable or malformed WAV or an
// unwritable output path, Errc::not_supported for a WAV that is not 16-bit
// PCM, Errc::network when no PulseAudio server answers.
[[nodiscard]] Result<std::unique_ptr<AudioPort>> open_audio(const AudioOptions& options);

struct AudioDeviceInfo {
  std::string name;         // pass as input_device / output_device
  std::string description;  // for people
  bool input = false;
};
// PulseAudio's sources (monitors left out) and sinks; empty when no server.
std::vector<AudioDeviceInfo> list_audio_devices();

// WAV helpers (tests, the file backend): 16-bit PCM only.
struct Wav {
  int rate = 48000;
  int channels = 1;
  std::vector<int16_t> samples;  // interleaved
};
[[nodiscard]] Result<Wav> read_wav(const std::filesystem::path& path);
[[nodiscard]] Result<void> write_wav(const std::filesystem::path& path, const Wav& wav);

// Resampling with libspeexdsp (quality 5), mono int16; keeps state across
// calls so that a stream converts without clicks.
class Resampler {
 public:
  Resampler(int from_rate, int to_rate);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;
  std::vector<int16_t> process(std::span<const int16_t> in);
  // Fine-tunes the ratio (drift compensation): `ppm` parts per million faster.
  void set_drift(int ppm);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Echo cancellation and noise suppression (libspeexdsp: speex_echo_* with a
// 200 ms tail, speex_preprocess_* with denoise), on 20 ms frames at 48 kHz.
// Each can be switched off; both off is a pass-through.
class VoiceProcessor {
 public:
  VoiceProcessor(bool echo_cancellation, bool noise_suppression);
  ~VoiceProcessor();
  VoiceProcessor(const VoiceProcessor&) = delete;
  VoiceProcessor& operator=(const VoiceProcessor&) = delete;
  // `played`: the frame given to the speaker at the same time (echo reference).
  void process(std::span<int16_t> captured, std::span<const int16_t> played);
  void set_echo_cancellation(bool on);
  void set_noise_suppression(bool on);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Tone detection for tests and the benchmark: the power of `frequency`
// (Goertzel) relative to the total power of `samples`, 0..1.
double tone_ratio(std::span<const int16_t> samples, int rate, double frequency);
// The highest tone_ratio over windows of `window_seconds` (overlapping by
// half) of mono `samples`: how clearly a recording holds the tone somewhere
// (its start may be silence while a call is set up). 0 when shorter than a window.
double strongest_tone_ratio(std::span<const int16_t> samples, int rate, double frequency,
                            double window_seconds);
// A sine tone of `amplitude` (0..32767).
std::vector<int16_t> make_tone(int rate, double frequency, double seconds, int amplitude = 8000);

}  // namespace sotto::media
