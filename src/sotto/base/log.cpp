#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::warn)};
std::once_flag g_env_once;

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off") return Level::off;
  return std::nullopt;
}

// SOTTO_LOG is read once, before the first use; set_level() wins after that.
void read_env_once() {
  std::call_once(g_env_once, [] {
    const char* value = std::getenv("SOTTO_LOG");
    if (value == nullptr) return;
    if (auto level = parse_level(value)) g_level.store(static_cast<int>(*level));
  });
}

std::string_view name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
    case Level::off:
      return "off";
  }
  return "?";
}

// Control characters (say, a newline inside a stanza) are escaped so that
// text from the network cannot forge log lines.
void append_escaped(std::string& out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\r') {
      out += "\\r";
    } else if ((byte < 0x20 && byte != '\t') || byte == 0x7F) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%02d:%02d:%02d.%03d", local.tm_hour, local.tm_min,
                local.tm_sec, static_cast<int>(millis));
  return buffer;
}

}  // namespace

void set_level(Level level) {
  read_env_once();
  g_level.store(static_cast<int>(level));
}

Level level() {
  read_env_once();
  return static_cast<Level>(g_level.load());
}

bool enabled(Level level) { return level != Level::off && level >= log::level(); }

void write(Level level, std::string_view module, std::string_view text) {
  if (!enabled(level)) return;
  std::string line = timestamp();
  line += " sotto[";
  line += name(level);
  line += "] ";
  append_escaped(line, module);
  line += ": ";
  append_escaped(line, text);
  line += '\n';
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

// Not even the length: it narrows a password down.
std::string redact(std::string_view secret) { return secret.empty() ? "[empty]" : "[redacted]"; }

}  // namespace sotto::log
