// Talking to the person at the terminal: passwords without echo, lines from
// standard input, and text from the network made safe to print.
#pragma once

#include <termios.h>

#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto::cli {

// A password held in memory only as long as needed; wiped on destruction.
struct Secret {
  std::string value;

  Secret() = default;
  explicit Secret(std::string text) : value(std::move(text)) {}
  Secret(Secret&& other) noexcept : value(std::move(other.value)) { secure_wipe(other.value); }
  Secret& operator=(Secret&& other) noexcept {
    secure_wipe(value);
    value = std::move(other.value);
    secure_wipe(other.value);
    return *this;
  }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { secure_wipe(value); }
};

// Asks on /dev/tty with echo off. Ctrl-C gives Errc::cancelled and leaves the
// terminal as it was; no terminal gives Errc::io naming --password-stdin.
[[nodiscard]] Result<Secret> prompt_secret(std::string_view prompt);

// One line from standard input, without its line ending. `what` names it in
// the error ("the password").
[[nodiscard]] Result<Secret> read_stdin_secret(std::string_view what);

// The rest of standard input, less one trailing newline.
[[nodiscard]] Result<std::string> read_stdin_all();

// While it lives, what is typed on the terminal at standard input is not
// shown (for a secret read as the next line); does nothing when standard
// input is not a terminal. restore() ends it early.
class StdinEchoOff {
 public:
  StdinEchoOff();
  ~StdinEchoOff() { restore(); }
  StdinEchoOff(const StdinEchoOff&) = delete;
  StdinEchoOff& operator=(const StdinEchoOff&) = delete;
  void restore();

 private:
  bool active_ = false;
  termios saved_{};
};

// Text from the network, safe for a terminal: control characters (escape
// sequences included) become U+FFFD, except newlines, which start a new line
// indented by `indent`, and tabs.
std::string printable(std::string_view text, std::string_view indent = "  ");

// The same for a table cell or a name: line breaks become spaces.
std::string printable_line(std::string_view text);

}  // namespace sotto::cli
