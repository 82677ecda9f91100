// sotto/base: the vocabulary every other module speaks.
//
// - Error / Result<T>: errors are values; messages are written for people.
// - Jid: a parsed, validated XMPP address (RFC 7622, ASCII subset + UTF-8 pass-through).
// - log: leveled logging to stderr. Never pass it a password or a message body;
//   use redact() for anything that might carry one.
// - paths: XDG data directory and the profile folder.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace sotto {

enum class Errc {
  invalid_argument,  // the caller gave something malformed (a JID, an option)
  not_found,         // no such account, contact, profile entry
  already_exists,    // adding what is already there
  io,                // local file or system failure
  network,           // could not reach the server (DNS, refused, reset)
  timeout,           // a step took longer than its deadline
  tls,               // TLS handshake failed
  certificate,       // the server's certificate is not trusted
  auth,              // wrong password, or no usable mechanism
  conflict,          // the server said the name is taken
  not_supported,     // the server lacks a feature we need
  not_allowed,       // the server refused the request
  protocol,          // the peer broke the protocol
  cancelled,         // the operation was stopped by the user or by shutdown
  not_connected,     // the account is offline
};

std::string_view to_string(Errc code);

struct Error {
  Errc code;
  std::string message;

  // Extra machine-readable detail, such as a certificate fingerprint.
  std::string detail;
};

template <class T>
using Result = tl::expected<T, Error>;

using Unexpected = tl::unexpected<Error>;

[[nodiscard]] inline Unexpected fail(Errc code, std::string message, std::string detail = {}) {
  return Unexpected(Error{code, std::move(message), std::move(detail)});
}

// ---------------------------------------------------------------------------
// Jid

class Jid {
 public:
  Jid() = default;

  // Parses "local@domain/resource"; local and resource are optional. Domain
  // and local part are case-folded (ASCII); each part is checked for length
  // (1..1023 bytes) and forbidden characters.
  [[nodiscard]] static Result<Jid> parse(std::string_view text);

  const std::string& local() const { return local_; }
  const std::string& domain() const { return domain_; }
  const std::string& resource() const { return resource_; }

  bool empty() const { return domain_.empty(); }
  bool is_bare() const { return resource_.empty(); }
  Jid bare() const;
  Jid with_resource(std::string resource) const;

  std::string str() const;       // full form
  std::string bare_str() const;  // local@domain

  friend bool operator==(const Jid&, const Jid&) = default;
  friend auto operator<=>(const Jid&, const Jid&) = default;

 private:
  std::string local_;
  std::string domain_;
  std::string resource_;
};

// ---------------------------------------------------------------------------
// Logging

namespace log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
Level level();
bool enabled(Level level);

// Writes "HH:MM:SS.mmm sotto[level] module: text" to stderr. Thread-safe; control
// characters in module and text are escaped, so each call is exactly one line.
// The level starts at warn, or at $SOTTO_LOG (debug|info|warn|error|off).
void write(Level level, std::string_view module, std::string_view text);

inline void debug(std::string_view module, std::string_view text) {
  write(Level::debug, module, text);
}
inline void info(std::string_view module, std::string_view text) {
  write(Level::info, module, text);
}
inline void warn(std::string_view module, std::string_view text) {
  write(Level::warn, module, text);
}
inline void error(std::string_view module, std::string_view text) {
  write(Level::error, module, text);
}

// A stand-in for a secret in a log line: "[redacted]" ("[empty]" if it is).
std::string redact(std::string_view secret);

}  // namespace log

// ---------------------------------------------------------------------------
// Paths

namespace paths {

// $XDG_DATA_HOME/sotto, or ~/.local/share/sotto.
std::filesystem::path data_home();

// data_home()/<profile>; created with mode 0700 when create is true.
[[nodiscard]] Result<std::filesystem::path> profile_dir(std::string_view profile, bool create);

}  // namespace paths

// ---------------------------------------------------------------------------
// Misc helpers

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

// Lowercase hex of bytes.
std::string to_hex(std::string_view bytes);

// A fingerprint in any common spelling ("AB:CD..", "abcd..") to lowercase hex
// without separators; nullopt if it is not hex.
std::optional<std::string> normalize_fingerprint(std::string_view text);

// "AB:CD:EF:..." for display.
std::string format_fingerprint(std::string_view lower_hex);

// Overwrites a string's bytes (OPENSSL_cleanse) and clears it.
void secure_wipe(std::string& secret);

// ASCII case rules of protocol text (SIP header names, SDP tokens, hosts):
// locale-independent, non-ASCII bytes unchanged.
char ascii_lower(char c);
std::string ascii_lower(std::string text);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);

// Random identifier (URL-safe), for stanza ids and resources.
std::string random_id(std::size_t length = 16);

}  // namespace sotto
