// A private PulseAudio server for tests: a null sink (with its monitor
// source) and a native-protocol socket in a temporary directory, no
// autospawn, no D-Bus, no hardware. Works as root (the daemon only warns).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/prosody.h"  // TempDir

namespace sotto::test {

namespace detail {
class GroupWatchdog;
}

class PulseServer {
 public:
  // Starts the server and waits (up to 10 s) until its socket accepts.
  // Throws with the tail of its log when it does not come up.
  explicit PulseServer(std::string sink = "sotto_null");
  ~PulseServer();  // stop(); never throws
  PulseServer(const PulseServer&) = delete;
  PulseServer& operator=(const PulseServer&) = delete;

  // For PULSE_SERVER: "unix:<dir>/native".
  std::string server() const;
  const std::string& sink() const { return sink_; }
  // The null sink's monitor source, for capturing what was played.
  std::string monitor() const { return sink_ + ".monitor"; }

  // SIGTERM, waits up to 5 s, then SIGKILL. Does nothing if not running.
  void stop();
  // SIGKILL at once, as in a crash.
  void kill();
  // Starts again on the same socket; does nothing if running.
  void start();
  bool running() const;

  // Runs `pactl <args>` against this server (30 s at most); throws unless
  // it succeeds. Returns its output.
  std::string pactl(const std::vector<std::string>& args) const;

  std::filesystem::path log_path() const;
  std::string log_contents() const;

 private:
  std::map<std::string, std::string> environment() const;

  std::string sink_;
  TempDir dir_;
  mutable pid_t pid_ = -1;
  std::unique_ptr<detail::GroupWatchdog> watchdog_;
};

// Points this process's PulseAudio clients at a server while it lives
// (sets PULSE_SERVER; restores the previous value). Not thread-safe: create
// it before starting threads that use libpulse.
class ScopedPulseServer {
 public:
  explicit ScopedPulseServer(const std::string& server);
  ~ScopedPulseServer();
  ScopedPulseServer(const ScopedPulseServer&) = delete;
  ScopedPulseServer& operator=(const ScopedPulseServer&) = delete;

 private:
  std::optional<std::string> previous_;
};

}  // namespace sotto::test
