#include "terminal.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <iostream>
#include <iterator>

namespace sotto::cli {
namespace {

constexpr std::size_t kMaxPassword = 4096;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

volatile std::sig_atomic_t g_prompt_interrupted = 0;

extern "C" void on_prompt_signal(int) { g_prompt_interrupted = 1; }

// Catches Ctrl-C and friends while a prompt has echo off, so the terminal can
// be restored; the previous handlers (asio's) come back afterwards.
class PromptSignals {
 public:
  PromptSignals() {
    g_prompt_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = on_prompt_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: read() must return EINTR
    for (std::size_t i = 0; i < std::size(kSignals); ++i)
      ::sigaction(kSignals[i], &action, &saved_[i]);
  }
  ~PromptSignals() {
    for (std::size_t i = 0; i < std::size(kSignals); ++i)
      ::sigaction(kSignals[i], &saved_[i], nullptr);
  }
  PromptSignals(const PromptSignals&) = delete;
  PromptSignals& operator=(const PromptSignals&) = delete;

 private:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
  struct sigaction saved_[std::size(kSignals)]{};
};

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void strip_line_ending(std::string& line) {
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

// Length of the UTF-8 sequence starting at `text[i]` if it is well formed, else 0.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  std::size_t length = lead < 0x80           ? 1
                       : (lead >> 5) == 0x6  ? 2
                       : (lead >> 4) == 0xE  ? 3
                       : (lead >> 3) == 0x1E ? 4
                                             : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

}  // namespace

StdinEchoOff::StdinEchoOff() {
  if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
  termios quiet = saved_;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
}

void StdinEchoOff::restore() {
  if (!active_) return;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  active_ = false;
}

Result<Secret> prompt_secret(std::string_view prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return fail(Errc::io,
                "there is no terminal to ask for the password on; pass it with --password-stdin");
  }
  termios saved{};
  bool have_termios = ::tcgetattr(fd, &saved) == 0;
  PromptSignals signals;
  if (have_termios) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  write_all(fd, prompt);

  Secret secret;
  bool complete = false;
  bool too_long = false;
  for (;;) {
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR && !g_prompt_interrupted) continue;
    if (n <= 0) break;
    if (c == '\n') {
      complete = true;
      break;
    }
    if (secret.value.size() < kMaxPassword) {
      secret.value.push_back(c);
    } else {
      too_long = true;
    }
  }
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &saved);
  if (!complete) write_all(fd, "\n");
  ::close(fd);

  if (g_prompt_interrupted) return fail(Errc::cancelled, "cancelled");
  if (!complete) return fail(Errc::cancelled, "no password was typed");
  strip_line_ending(secret.value);
  if (too_long) return fail(Errc::invalid_argument, "the password is too long");
  if (secret.value.empty()) return fail(Errc::invalid_argument, "the password is empty");
  return secret;
}

Result<Secret> read_stdin_secret(std::string_view what) {
  Secret line;
  if (!std::getline(std::cin, line.value)) {
    return fail(Errc::invalid_argument, "no line with " + std::string(what) + " on standard input");
  }
  strip_line_ending(line.value);
  if (line.value.empty()) return fail(Errc::invalid_argument, std::string(what) + " is empty");
  if (line.value.size() > kMaxPassword)
    return fail(Errc::invalid_argument, std::string(what) + " is too long");
  return line;
}

Result<std::string> read_stdin_all() {
  std::string text(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) return fail(Errc::io, "could not read standard input");
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

std::string printable(std::string_view text, std::string_view indent) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out.push_back('\n');
      out.append(indent);
      ++i;
      continue;
    }
    if (c == '\t') {
      out.push_back('\t');
      ++i;
      continue;
    }
    std::size_t length = utf8_length(text, i);
    bool control = c < 0x20 || c == 0x7F;
    // C1 controls (U+0080..U+009F) are encoded as C2 80..C2 9F.
    bool c1 = length == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (length == 0 || control || c1) {
      out.append(kReplacement);
      i += length == 0 ? 1 : length;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string printable_line(std::string_view text) {
  std::string out = printable(text, "");
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

}  // namespace sotto::cli
