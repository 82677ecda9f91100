// linphonec (Debian linphone-cli) as a headless SIP peer for interop tests
// and benchmarks, on 127.0.0.1 only.
//
//   Linphone bob({.user = "bob", .password = "pw", .proxy_port = kamailio.udp_port()});
//   bob.wait_registered(10s);
//   bob.wait_for("Receiving new incoming call from", 10s);
//   bob.command("answer");
//   bob.wait_for(R"(Call \d+ with \S+ connected)", 10s);
//   bob.wait_for(R"(Call \d+ is fully encrypted and auth token is (\w+))");  // ZRTP SAS
//
// Audio: `play FILE.wav` sends a WAV (its rate as is) and `record FILE.wav`
// writes what arrives (48 kHz mono for Opus); both take effect in a call.
// `zrtp-set-verified` confirms the SAS of the current call.
// HOME is a temp dir (with .local/share/linphone, without which the core never
// starts); the rc binds SIP and RTP to 127.0.0.1 on free ports, registers
// through the proxy given, media encryption as asked, audio from/to files
// (`soundcard use files`). Commands go to its stdin through a pipe; its
// stdout and stderr go to output_path(), which wait_for() scans. The process
// is SIGKILLed if the thread that started it exits. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "harness/prosody.h"  // TempDir

namespace sotto::test {

struct LinphoneOptions {
  std::string user;      // identity sip:user@domain
  std::string password;  // digest password
  std::string domain = "127.0.0.1";
  uint16_t proxy_port = 0;                // registrar/proxy on 127.0.0.1 (UDP); 0: no registration
  std::string media_encryption = "none";  // "none" | "srtp" | "zrtp" (then mandatory)
  bool auto_answer = false;               // linphonec -a
  // ZRTP key agreements, e.g. "MS_ZRTP_KEY_AGREEMENT_X255"; empty: its default (DH3k).
  std::string zrtp_key_agreements = {};
};

class Linphone {
 public:
  // Starts linphonec and waits until it reads commands (its prompt).
  explicit Linphone(LinphoneOptions opts);
  // `quit`, waits up to 5 s, then SIGKILL. Never throws.
  ~Linphone();
  Linphone(const Linphone&) = delete;
  Linphone& operator=(const Linphone&) = delete;

  // One line to linphonec's stdin (newline added).
  void command(const std::string& line);

  // Scans the output from the cursor on for the regular expression
  // (ECMAScript); returns the matched text and moves the cursor past it.
  // Throws std::runtime_error with the output's tail on timeout or when the
  // process has exited.
  std::string wait_for(const std::string& pattern,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Moves the cursor to the end of the output so far (ignore older lines).
  void skip_output();
  // Polls `status register` until it reports "registered, identity=".
  void wait_registered(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  std::string address() const { return "sip:" + opts_.user + "@" + opts_.domain; }
  uint16_t sip_port() const { return sip_port_; }
  pid_t pid() const { return pid_; }
  bool running() const;
  std::filesystem::path output_path() const;
  std::string output() const;
  const std::filesystem::path& dir() const { return dir_.path(); }

 private:
  LinphoneOptions opts_;
  TempDir dir_;
  uint16_t sip_port_ = 0;
  mutable pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::size_t cursor_ = 0;
};

}  // namespace sotto::test
