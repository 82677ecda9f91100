// A private Prosody (XMPP server) for integration tests, on 127.0.0.1 only.
//
//   Prosody server;                       // started and accepting on c2s_port()
//   server.register_user("alice", "pw");
//   connect to 127.0.0.1:server.c2s_port(), pin server.cert_sha256()
//   server.kill(); server.start();        // crash and restart: same ports, same accounts
//
// Everything (config, self-signed certificate, accounts, pidfile, logs) lives
// in a temporary directory that the destructor removes after stopping the
// server. The server runs as `prosody -F --config FILE` in its own process
// group, with stanza-level debug logging to log_path() (it logs passwords and
// message bodies: tests only). It is SIGKILLed if the thread that started it
// exits (PR_SET_PDEATHSIG), so a crashed or timed-out test leaves nothing
// behind; start and stop it from the same long-lived thread.
//
// Needs `prosody`, `prosodyctl` and `openssl` on PATH. Not thread-safe.
// Errors throw std::runtime_error with the tail of the server's output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sotto::test {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "sotto-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed).
uint16_t free_tcp_port();

struct ProsodyOptions {
  std::string domain = "localhost";
  // In-band registration (XEP-0077) for new accounts. Password change and
  // account removal by a logged-in user work either way.
  bool allow_registration = true;
  // A second c2s port speaking TLS from the first byte (XEP-0368).
  bool direct_tls = true;
};

class Prosody {
 public:
  // Creates the directory, certificate and config, picks free ports, starts the
  // server and waits (up to 10 s) until it accepts connections.
  explicit Prosody(ProsodyOptions opts = {});
  // stop(), then removes the directory. Never throws.
  ~Prosody();
  Prosody(const Prosody&) = delete;
  Prosody& operator=(const Prosody&) = delete;

  uint16_t c2s_port() const { return c2s_port_; }         // STARTTLS (required)
  uint16_t direct_tls_port() const { return tls_port_; }  // 0 if !direct_tls
  const std::string& domain() const { return opts_.domain; }

  // SHA-256 of the certificate's DER encoding, lowercase hex without colons.
  std::string cert_sha256() const { return cert_sha256_; }
  // The self-signed certificate (PEM; CN and subjectAltName DNS = domain()).
  std::filesystem::path cert_pem() const;
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_path() const;

  // `prosodyctl --config FILE register user domain password`; works whether or
  // not the server is running. Creates the account, or sets a new password if
  // it exists (that is what prosodyctl does). Throws if prosodyctl fails.
  void register_user(const std::string& user, const std::string& password);
  // Whether the account exists in the data directory.
  bool user_exists(const std::string& user) const;

  // SIGKILL to the process group; returns once the server process is gone.
  // No clean shutdown: clients see their connections drop.
  void kill();
  // SIGTERM (clean shutdown, clients get </stream:stream>), waits up to 5 s,
  // then SIGKILL. Does nothing if the server is not running.
  void stop();
  // (Re)starts on the same ports with the same data, waits until it accepts.
  // Does nothing if it is already running.
  void start();
  bool running() const;
  pid_t pid() const { return pid_; }
  // From fork to the ports accepting, for the last start().
  std::chrono::milliseconds last_start_duration() const { return last_start_duration_; }

  // Prosody's log at debug level, including every stanza sent and received
  // (mod_stanza_debug: "SEND: <message ...>" / "RECV: ..."). Appended to across restarts.
  std::filesystem::path log_path() const;
  std::string log_contents() const;
  // What the process wrote on stdout/stderr (normally nothing).
  std::filesystem::path output_path() const;

 private:
  void write_config() const;
  // Throws with a reason; sets *port_in_use when Prosody could not bind a port.
  void launch(bool* port_in_use);
  void wait_until_ready(bool* port_in_use);
  // Reaps the child if it has exited; true if it is (still) running.
  bool poll_child() const;
  void signal_and_wait(int sig, std::chrono::milliseconds timeout);
  // The tails of the output and the log since the last launch.
  std::string failure_details() const;

  ProsodyOptions opts_;
  TempDir dir_;
  uint16_t c2s_port_ = 0;
  uint16_t tls_port_ = 0;
  std::string cert_sha256_;
  mutable pid_t pid_ = -1;
  mutable std::optional<int> last_exit_status_;  // raw waitpid status
  std::chrono::milliseconds last_start_duration_{0};
  std::uintmax_t log_offset_ = 0;  // sizes of the log and output at the last launch
  std::uintmax_t output_offset_ = 0;
};

}  // namespace sotto::test
