// What a media::Engine reports to its listener, recorded for tests (from
// whatever thread the engine reports on), with waits bounded by deadlines.
// One Recorder per engine; the tests open one stream per engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sotto/media/media.h"

namespace sotto::media {

class Recorder : public Engine::Listener {
 public:
  void on_security(Engine::StreamId, const Security& security) override {
    std::lock_guard lock(mutex_);
    securities_.push_back(security);
    changed_.notify_all();
  }
  void on_stats(Engine::StreamId, const CallStats& stats) override {
    std::lock_guard lock(mutex_);
    stats_.push_back(stats);
    changed_.notify_all();
  }
  void on_dtmf(Engine::StreamId, char digit) override {
    std::lock_guard lock(mutex_);
    dtmf_ += digit;
    changed_.notify_all();
  }
  void on_audio_event(const std::string&) override {}

  // Waits (at most `deadline`) until `done` holds under the lock.
  template <class Done>
  bool wait(std::chrono::milliseconds deadline, Done done) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, deadline, [&] { return done(*this); });
  }

  template <class T, class Get>
  T read(Get get) {
    std::lock_guard lock(mutex_);
    return get(*this);
  }

  std::optional<Security> last_security() const {
    if (securities_.empty()) return std::nullopt;
    return securities_.back();
  }
  std::vector<Security> securities_;
  std::vector<CallStats> stats_;
  std::string dtmf_;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

inline bool is_secure(const Recorder& r) {
  return r.last_security() && r.last_security()->state == Encryption::secure;
}

}  // namespace sotto::media
