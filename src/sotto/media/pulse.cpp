// The PulseAudio backend (audio.h): a pa_threaded_mainloop whose callbacks
// only move samples through lock-free rings; capture() and play() never take
// the mainloop lock, so a dead or stuck server cannot block the media thread.
#include "sotto/media/pulse.h"

#include <pulse/pulseaudio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "sotto/media/codec.h"

namespace sotto::media {
namespace {

constexpr std::string_view kLog = "media.pulse";
constexpr std::size_t kRingCapacity = 8192;              // 170 ms at 48 kHz
constexpr std::size_t kTargetLevel = 2 * kFrameSamples;  // 40 ms
constexpr std::size_t kTrimLevel = 6 * kFrameSamples;    // 120 ms: drop the oldest
constexpr int kMaxDriftPpm = 5000;                       // 0.5 %
constexpr uint32_t kFragmentBytes = kFrameSamples * 2;   // 20 ms of S16 mono
constexpr auto kConnectTimeout = std::chrono::seconds(3);
constexpr pa_usec_t kRetryUsec = 500 * PA_USEC_PER_MSEC;

// A single-producer single-consumer ring of samples: the producer only moves
// `head_`, the consumer only `tail_`. Capacity is a power of two.
class SpscRing {
 public:
  explicit SpscRing(std::size_t capacity) : buffer_(capacity), mask_(capacity - 1) {}

  std::size_t size() const {
    return head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire);
  }

  // Producer: appends what fits, returns how many samples were taken.
  std::size_t push(const int16_t* data, std::size_t count) {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    const std::size_t tail = tail_.load(std::memory_order_acquire);
    const std::size_t n = std::min(count, buffer_.size() - (head - tail));
    for (std::size_t i = 0; i < n; ++i) buffer_[(head + i) & mask_] = data == nullptr ? 0 : data[i];
    head_.store(head + n, std::memory_order_release);
    return n;
  }

  // Consumer: takes up to `count` samples (`out` null: discards them).
  std::size_t pop(int16_t* out, std::size_t count) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t head = head_.load(std::memory_order_acquire);
    const std::size_t n = std::min(count, head - tail);
    if (out != nullptr) {
      for (std::size_t i = 0; i < n; ++i) out[i] = buffer_[(tail + i) & mask_];
    }
    tail_.store(tail + n, std::memory_order_release);
    return n;
  }

 private:
  std::vector<int16_t> buffer_;
  std::size_t mask_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

// Holds a ring near kTargetLevel: a smoothed fill level -> resampler drift.
// The ratio changes at most every 500 ms and in steps of 250 ppm: each change
// makes speexdsp rebuild its filter, which must stay rare to stay inaudible.
class DriftControl {
 public:
  int update(std::size_t level) {
    average_ += 0.05 * (static_cast<double>(level) - average_);
    if (++calls_ % 25 != 0) return ppm_;
    const double error = average_ - static_cast<double>(kTargetLevel);
    // One frame (20 ms) too many: the full 0.5 %.
    const double ppm = std::clamp(error * kMaxDriftPpm / kFrameSamples, -double{kMaxDriftPpm},
                                  double{kMaxDriftPpm});
    ppm_ = static_cast<int>(std::lround(ppm / 250.0)) * 250;
    return ppm_;
  }
  void reset() { average_ = static_cast<double>(kTargetLevel); }

 private:
  double average_ = static_cast<double>(kTargetLevel);
  int calls_ = 0;
  int ppm_ = 0;
};

std::string context_error(pa_context* context) {
  return context == nullptr ? std::string("no context") : pa_strerror(pa_context_errno(context));
}

class PulsePort final : public AudioPort {
 public:
  explicit PulsePort(const AudioOptions& options)
      : input_device_(options.input_device),
        output_device_(options.output_device),
        on_event_(options.on_device_event),
        capture_ring_(kRingCapacity),
        play_ring_(kRingCapacity),
        capture_resampler_(kSampleRate, kSampleRate),
        play_resampler_(kSampleRate, kSampleRate) {}

  ~PulsePort() override { close(); }

  Result<void> start() {
    mainloop_ = pa_threaded_mainloop_new();
    if (mainloop_ == nullptr) return fail(Errc::io, "could not create a PulseAudio main loop");
    api_ = pa_threaded_mainloop_get_api(mainloop_);
    pa_threaded_mainloop_set_name(mainloop_, "sotto-pulse");
    if (pa_threaded_mainloop_start(mainloop_) < 0) {
      return fail(Errc::io, "could not start the PulseAudio main loop");
    }
    pa_threaded_mainloop_lock(mainloop_);
    timeval tv{};
    retry_ = api_->time_new(api_, pa_timeval_add(pa_gettimeofday(&tv), 3600 * PA_USEC_PER_SEC),
                            &PulsePort::on_retry_event, this);
    api_->time_restart(retry_, nullptr);
    connect_context();
    pa_threaded_mainloop_unlock(mainloop_);

    const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
    for (;;) {
      pa_threaded_mainloop_lock(mainloop_);
      const pa_context_state_t state =
          context_ == nullptr ? PA_CONTEXT_FAILED : pa_context_get_state(context_);
      const std::string error = context_error(context_);
      pa_threaded_mainloop_unlock(mainloop_);
      if (state == PA_CONTEXT_READY) return {};
      if (!PA_CONTEXT_IS_GOOD(state)) {
        return fail(Errc::network, "no PulseAudio server answers (" + error + ")");
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return fail(Errc::network, "the PulseAudio server did not answer in time");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  void capture(std::span<int16_t> frame) override {
    std::size_t level = capture_ring_.size();
    if (level > kTrimLevel) {
      log::debug(kLog, "capture ring at " + std::to_string(level) + ", dropping the oldest");
      capture_ring_.pop(nullptr, level - kTargetLevel);
      level = kTargetLevel;
    }
    if (!capture_primed_) {
      if (level < kTargetLevel) {
        std::fill(frame.begin(), frame.end(), 0);
        return;
      }
      capture_primed_ = true;
      capture_drift_.reset();
    }
    capture_resampler_.set_drift(capture_drift_.update(level));
    std::array<int16_t, kFrameSamples> raw{};
    while (capture_pending_.size() < frame.size()) {
      const std::size_t want = std::min(raw.size(), frame.size() - capture_pending_.size());
      const std::size_t got = capture_ring_.pop(raw.data(), want);
      if (got == 0) break;
      const auto out = capture_resampler_.process(std::span<const int16_t>(raw.data(), got));
      capture_pending_.insert(capture_pending_.end(), out.begin(), out.end());
    }
    const std::size_t n = std::min(frame.size(), capture_pending_.size());
    std::copy_n(capture_pending_.begin(), n, frame.begin());
    capture_pending_.erase(capture_pending_.begin(),
                           capture_pending_.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < frame.size()) {
      log::debug(kLog, "capture underrun");
      std::fill(frame.begin() + static_cast<std::ptrdiff_t>(n), frame.end(), 0);
      capture_primed_ = false;  // underrun: fill up to the target again
    }
  }

  void play(std::span<const int16_t> frame) override {
    play_resampler_.set_drift(play_drift_.update(play_ring_.size()));
    const auto out = play_resampler_.process(frame);
    const std::size_t pushed = play_ring_.push(out.data(), out.size());
    if (pushed < out.size() && !play_overflow_logged_) {
      // The speaker is gone or stuck: the writer drops the oldest audio when
      // it comes back; until then the newest does not fit.
      play_overflow_logged_ = true;
      log::debug(kLog, "playback ring full, dropping audio");
    }
  }

  void close() override {
    if (mainloop_ == nullptr) return;
    pa_threaded_mainloop_lock(mainloop_);
    if (retry_ != nullptr) api_->time_free(retry_);
    retry_ = nullptr;
    drop_stream(&record_);
    drop_stream(&playback_);
    drop_context();
    pa_threaded_mainloop_unlock(mainloop_);
    pa_threaded_mainloop_stop(mainloop_);
    pa_threaded_mainloop_free(mainloop_);
    mainloop_ = nullptr;
  }

 private:
  // --- everything below runs on the mainloop thread or under its lock ---

  void report(const std::string& text) {
    log::info(kLog, text);
    if (on_event_) on_event_(text);
  }

  void connect_context() {
    pa_proplist* props = pa_proplist_new();
    pa_proplist_sets(props, PA_PROP_APPLICATION_NAME, "sotto");
    pa_proplist_sets(props, PA_PROP_MEDIA_ROLE, "phone");
    context_ = pa_context_new_with_proplist(api_, "sotto", props);
    pa_proplist_free(props);
    if (context_ == nullptr) return;
    pa_context_set_state_callback(context_, &PulsePort::on_context_state, this);
    pa_context_set_subscribe_callback(context_, &PulsePort::on_subscription, this);
    if (pa_context_connect(context_, nullptr, PA_CONTEXT_NOAUTOSPAWN, nullptr) < 0) {
      log::debug(kLog, "pa_context_connect: " + context_error(context_));
    }
  }

  void drop_context() {
    if (context_ == nullptr) return;
    pa_context_set_state_callback(context_, nullptr, nullptr);
    pa_context_set_subscribe_callback(context_, nullptr, nullptr);
    pa_context_disconnect(context_);
    pa_context_unref(context_);
    context_ = nullptr;
  }

  void drop_stream(pa_stream** stream) {
    if (*stream == nullptr) return;
    pa_stream_set_state_callback(*stream, nullptr, nullptr);
    pa_stream_set_read_callback(*stream, nullptr, nullptr);
    pa_stream_set_write_callback(*stream, nullptr, nullptr);
    pa_stream_set_moved_callback(*stream, nullptr, nullptr);
    if (PA_STREAM_IS_GOOD(pa_stream_get_state(*stream))) pa_stream_disconnect(*stream);
    pa_stream_unref(*stream);
    *stream = nullptr;
  }

  void schedule_retry(pa_usec_t delay) {
    if (retry_ == nullptr) return;
    timeval tv{};
    api_->time_restart(retry_, pa_timeval_add(pa_gettimeofday(&tv), delay));
  }

  static bool stream_ok(pa_stream* stream) {
    return stream != nullptr && PA_STREAM_IS_GOOD(pa_stream_get_state(stream));
  }

  pa_stream* make_stream(bool record) {
    const pa_sample_spec spec{PA_SAMPLE_S16LE, kSampleRate, 1};
    pa_stream* stream =
        pa_stream_new(context_, record ? "sotto microphone" : "sotto speaker", &spec, nullptr);
    if (stream == nullptr) {
      log::warn(kLog, "pa_stream_new: " + context_error(context_));
      return nullptr;
    }
    pa_stream_set_state_callback(stream, &PulsePort::on_stream_state, this);
    pa_stream_set_moved_callback(stream, &PulsePort::on_stream_moved, this);
    pa_buffer_attr attr{};
    attr.maxlength = static_cast<uint32_t>(-1);
    attr.prebuf = static_cast<uint32_t>(-1);
    const auto flags = static_cast<pa_stream_flags_t>(PA_STREAM_ADJUST_LATENCY);
    int rc = 0;
    if (record) {
      pa_stream_set_read_callback(stream, &PulsePort::on_read, this);
      attr.fragsize = kFragmentBytes;
      attr.tlength = attr.minreq = static_cast<uint32_t>(-1);
      rc = pa_stream_connect_record(stream, input_device_.empty() ? nullptr : input_device_.c_str(),
                                    &attr, flags);
    } else {
      pa_stream_set_write_callback(stream, &PulsePort::on_write, this);
      attr.tlength = 2 * kFragmentBytes;
      attr.minreq = kFragmentBytes;
      attr.fragsize = static_cast<uint32_t>(-1);
      rc = pa_stream_connect_playback(stream,
                                      output_device_.empty() ? nullptr : output_device_.c_str(),
                                      &attr, flags, nullptr, nullptr);
    }
    if (rc < 0) {
      log::warn(kLog, std::string("connecting the ") + (record ? "microphone" : "speaker") +
                          " stream: " + context_error(context_));
      pa_stream_unref(stream);
      return nullptr;
    }
    return stream;
  }

  // Recreates what is missing: the connection, then the streams.
  void repair() {
    if (context_ == nullptr || !PA_CONTEXT_IS_GOOD(pa_context_get_state(context_))) {
      drop_stream(&record_);
      drop_stream(&playback_);
      drop_context();
      connect_context();
      schedule_retry(kRetryUsec);
      return;
    }
    if (pa_context_get_state(context_) != PA_CONTEXT_READY) {
      schedule_retry(kRetryUsec);
      return;
    }
    if (!stream_ok(record_)) {
      drop_stream(&record_);
      record_ = make_stream(true);
    }
    if (!stream_ok(playback_)) {
      drop_stream(&playback_);
      playback_ = make_stream(false);
    }
    if (record_ == nullptr || playback_ == nullptr) schedule_retry(2 * kRetryUsec);
  }

  static void on_retry_event(pa_mainloop_api*, pa_time_event*, const timeval*, void* self) {
    static_cast<PulsePort*>(self)->repair();
  }

  static void on_context_state(pa_context* context, void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    if (context != self->context_) return;
    switch (pa_context_get_state(context)) {
      case PA_CONTEXT_READY: {
        self->connected_once_ = true;
        const auto mask = static_cast<pa_subscription_mask_t>(PA_SUBSCRIPTION_MASK_SINK |
                                                              PA_SUBSCRIPTION_MASK_SOURCE);
        pa_operation* op = pa_context_subscribe(context, mask, nullptr, nullptr);
        if (op != nullptr) pa_operation_unref(op);
        if (self->server_lost_) {
          self->server_lost_ = false;
          self->report("the audio server is back");
        }
        self->repair();
        break;
      }
      case PA_CONTEXT_FAILED:
      case PA_CONTEXT_TERMINATED:
        if (self->connected_once_) {
          if (!self->server_lost_) {
            self->server_lost_ = true;
            // The streams go with the server; its return is one event.
            self->record_lost_ = self->playback_lost_ = false;
            self->report("the audio server went away (" + context_error(context) + ")");
          }
          self->schedule_retry(kRetryUsec);
        }
        break;
      default:
        break;
    }
  }

  static void on_subscription(pa_context*, pa_subscription_event_type_t type, uint32_t,
                              void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    const auto facility = type & PA_SUBSCRIPTION_EVENT_FACILITY_MASK;
    const auto kind = type & PA_SUBSCRIPTION_EVENT_TYPE_MASK;
    if (kind != PA_SUBSCRIPTION_EVENT_NEW) return;
    if ((facility == PA_SUBSCRIPTION_EVENT_SOURCE && !stream_ok(self->record_)) ||
        (facility == PA_SUBSCRIPTION_EVENT_SINK && !stream_ok(self->playback_))) {
      self->schedule_retry(0);  // a device was plugged in: try it now
    }
  }

  static void on_stream_state(pa_stream* stream, void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    const bool record = stream == self->record_;
    if (!record && stream != self->playback_) return;
    bool& lost = record ? self->record_lost_ : self->playback_lost_;
    const char* what = record ? "microphone" : "speaker";
    switch (pa_stream_get_state(stream)) {
      case PA_STREAM_READY:
        if (const pa_buffer_attr* attr = pa_stream_get_buffer_attr(stream)) {
          log::debug(kLog, std::string(what) + " stream ready on " +
                               (pa_stream_get_device_name(stream) != nullptr
                                    ? pa_stream_get_device_name(stream)
                                    : "?") +
                               ", tlength " + std::to_string(attr->tlength) + ", fragsize " +
                               std::to_string(attr->fragsize));
        }
        if (lost) {
          lost = false;
          self->report(std::string("the ") + what + " is back");
        }
        break;
      case PA_STREAM_FAILED:
      case PA_STREAM_TERMINATED:
        // When the whole server goes, the context reports it.
        if (self->context_ != nullptr && pa_context_get_state(self->context_) == PA_CONTEXT_READY &&
            !lost) {
          lost = true;
          const std::string& device = record ? self->input_device_ : self->output_device_;
          self->report(std::string("the ") + what + (device.empty() ? "" : " (" + device + ")") +
                       " went away (" + context_error(self->context_) + ")");
        }
        self->schedule_retry(2 * kRetryUsec);
        break;
      default:
        break;
    }
  }

  static void on_stream_moved(pa_stream* stream, void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    const char* device = pa_stream_get_device_name(stream);
    self->report(std::string("the ") + (stream == self->record_ ? "microphone" : "speaker") +
                 " moved to " + (device != nullptr ? device : "another device"));
  }

  static void on_read(pa_stream* stream, size_t, void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    while (pa_stream_readable_size(stream) > 0) {
      const void* data = nullptr;
      size_t bytes = 0;
      if (pa_stream_peek(stream, &data, &bytes) < 0 || bytes == 0) break;
      // A hole (data null) is silence of that length.
      self->capture_ring_.push(static_cast<const int16_t*>(data), bytes / 2);
      pa_stream_drop(stream);
    }
  }

  static void on_write(pa_stream* stream, size_t bytes, void* userdata) {
    auto* self = static_cast<PulsePort*>(userdata);
    void* data = nullptr;
    if (pa_stream_begin_write(stream, &data, &bytes) < 0 || data == nullptr) return;
    auto* out = static_cast<int16_t*>(data);
    const std::size_t count = bytes / 2;
    SpscRing& ring = self->play_ring_;
    const std::size_t level = ring.size();
    if (level > kTrimLevel) ring.pop(nullptr, level - kTargetLevel);  // the oldest goes
    if (!self->play_primed_ && level >= kTargetLevel) self->play_primed_ = true;
    const std::size_t got = self->play_primed_ ? ring.pop(out, count) : 0;
    if (got < count) {
      std::fill(out + got, out + count, 0);
      if (self->play_primed_ && got < count) self->play_primed_ = false;
    }
    pa_stream_write(stream, data, count * 2, nullptr, 0, PA_SEEK_RELATIVE);
  }

  const std::string input_device_;
  const std::string output_device_;
  const std::function<void(const std::string&)> on_event_;

  pa_threaded_mainloop* mainloop_ = nullptr;
  pa_mainloop_api* api_ = nullptr;
  pa_context* context_ = nullptr;
  pa_stream* record_ = nullptr;
  pa_stream* playback_ = nullptr;
  pa_time_event* retry_ = nullptr;
  bool connected_once_ = false;
  bool server_lost_ = false;
  bool record_lost_ = false;
  bool playback_lost_ = false;
  bool play_primed_ = false;  // the write callback's

  SpscRing capture_ring_;
  SpscRing play_ring_;

  // The media thread's.
  Resampler capture_resampler_;
  Resampler play_resampler_;
  DriftControl capture_drift_;
  DriftControl play_drift_;
  std::vector<int16_t> capture_pending_;
  bool capture_primed_ = false;
  bool play_overflow_logged_ = false;
};

}  // namespace

namespace detail {

Result<std::unique_ptr<AudioPort>> open_pulse(const AudioOptions& options) {
  auto port = std::make_unique<PulsePort>(options);
  auto started = port->start();
  if (!started) return Unexpected(started.error());
  return std::unique_ptr<AudioPort>(std::move(port));
}

}  // namespace detail

std::vector<AudioDeviceInfo> list_audio_devices() {
  struct State {
    std::vector<AudioDeviceInfo> devices;
    int pending = 0;
  } state;
  pa_mainloop* mainloop = pa_mainloop_new();
  if (mainloop == nullptr) return {};
  pa_context* context = pa_context_new(pa_mainloop_get_api(mainloop), "sotto");
  if (context == nullptr) {
    pa_mainloop_free(mainloop);
    return {};
  }
  bool asked = false;
  bool ok = pa_context_connect(context, nullptr, PA_CONTEXT_NOAUTOSPAWN, nullptr) >= 0;
  const auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
  while (ok && std::chrono::steady_clock::now() < deadline) {
    const pa_context_state_t s = pa_context_get_state(context);
    if (!PA_CONTEXT_IS_GOOD(s)) {
      ok = false;
      break;
    }
    if (s == PA_CONTEXT_READY && !asked) {
      asked = true;
      state.pending = 2;
      auto on_source = [](pa_context*, const pa_source_info* info, int eol, void* userdata) {
        auto* st = static_cast<State*>(userdata);
        if (eol != 0 || info == nullptr) {
          --st->pending;
          return;
        }
        if (info->monitor_of_sink != PA_INVALID_INDEX) return;
        st->devices.push_back({info->name != nullptr ? info->name : "",
                               info->description != nullptr ? info->description : "", true});
      };
      auto on_sink = [](pa_context*, const pa_sink_info* info, int eol, void* userdata) {
        auto* st = static_cast<State*>(userdata);
        if (eol != 0 || info == nullptr) {
          --st->pending;
          return;
        }
        st->devices.push_back({info->name != nullptr ? info->name : "",
                               info->description != nullptr ? info->description : "", false});
      };
      pa_operation* op = pa_context_get_source_info_list(context, on_source, &state);
      if (op != nullptr)
        pa_operation_unref(op);
      else
        --state.pending;
      op = pa_context_get_sink_info_list(context, on_sink, &state);
      if (op != nullptr)
        pa_operation_unref(op);
      else
        --state.pending;
    }
    if (asked && state.pending <= 0) break;
    if (pa_mainloop_prepare(mainloop, 20 * 1000) < 0 || pa_mainloop_poll(mainloop) < 0 ||
        pa_mainloop_dispatch(mainloop) < 0) {
      ok = false;
    }
  }
  if (!ok || !asked || state.pending > 0) {
    log::debug(kLog, "listing audio devices: " + context_error(context));
  }
  pa_context_disconnect(context);
  pa_context_unref(context);
  pa_mainloop_free(mainloop);
  return state.devices;
}

}  // namespace sotto::media
