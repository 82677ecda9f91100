// A private Kamailio (SIP registrar and proxy) for integration tests, on
// 127.0.0.1 only.
//
//   Kamailio server;                        // started, answering on all ports
//   server.add_user("alice", "pw");         // digest auth (db_text subscriber table)
//   register sip:alice@127.0.0.1 via 127.0.0.1:server.udp_port() (or tcp/tls_port())
//   server.restart();                       // same ports and users, registrations lost
//
// The config: UDP, TCP and TLS listeners (self-signed certificate for
// 127.0.0.1/localhost, pin cert_sha256()); registrar + usrloc in memory;
// REGISTER is challenged with 401 (www_authorize), other requests from local
// users with 407 (proxy_authorize); record_route on INVITE; requests to local
// users go to lookup("location") (404 for unknown users, 480 for users not
// registered); in-dialog requests follow loose_route, with GRUUs (linphonec)
// resolved through lookup; TCP/TLS contacts are reached over the connection
// they registered on (nathelper aliases). Every request is logged as a line
// "SIPLOG recv METHOD R-URI from IP:PORT/PROTO callid=ID t=SECONDS.MICROS",
// a successful REGISTER as "SIPLOG registered USER contact=... callid=ID t=...",
// replies to relayed INVITE/BYE/CANCEL as "SIPLOG reply STATUS METHOD
// callid=ID t=..." and a MESSAGE's body as
// "SIPLOG MESSAGE FROM-URI -> R-URI body=[BODY]" in log_path().
//
// Everything lives in a temporary directory removed by the destructor. The
// server runs as `kamailio -f CFG -P PID -DD -E` in its own process group and
// is SIGKILLed (its whole process group, by a watchdog) if the test process dies. Not thread-safe.
// Errors throw std::runtime_error with the tail of the server's output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/process.h"
#include "harness/prosody.h"  // TempDir

namespace sotto::test {

struct KamailioOptions {
  // user -> password, in the subscriber table from the start.
  std::map<std::string, std::string> users;
  // Digest algorithm of the challenges: "MD5" or "SHA-256".
  std::string algorithm = "MD5";
  // Caps the registration lifetime granted (seconds; 0: Kamailio's default,
  // 3600), so that clients refresh soon, e.g. after a restart lost them.
  int max_expires = 0;
};

// One MESSAGE request as Kamailio logged it.
struct KamailioMessage {
  std::string from;  // From URI
  std::string to;    // Request-URI as received
  std::string body;
};

class Kamailio {
 public:
  // Writes the certificate and config, picks free ports, starts the server
  // and waits (up to 10 s) until it answers an OPTIONS on UDP and accepts on
  // TCP and TLS.
  explicit Kamailio(KamailioOptions opts = {});
  ~Kamailio();  // stop(); never throws
  Kamailio(const Kamailio&) = delete;
  Kamailio& operator=(const Kamailio&) = delete;

  uint16_t udp_port() const { return udp_port_; }
  uint16_t tcp_port() const { return tcp_port_; }
  uint16_t tls_port() const { return tls_port_; }
  // The SIP domain of the users: "127.0.0.1".
  std::string domain() const { return "127.0.0.1"; }
  // SHA-256 of the certificate's DER, lowercase hex without colons.
  const std::string& cert_sha256() const { return cert_sha256_; }
  std::filesystem::path cert_pem() const;
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path config_path() const;

  // Adds the user or changes the password; works while running (db_text in
  // non-caching mode reloads the table).
  void add_user(const std::string& user, const std::string& password);

  // The contacts registered for the user (e.g. "sip:alice@127.0.0.1:40000"),
  // from `kamcmd ul.lookup`; empty when not registered or not running.
  std::vector<std::string> contacts(const std::string& user) const;
  // Waits until the user has a registered contact; false after `timeout`.
  bool wait_registered(const std::string& user, std::chrono::milliseconds timeout) const;

  // SIGTERM, waits up to 5 s, then SIGKILL. Does nothing if not running.
  void stop();
  // Starts on the same ports with the same users; does nothing if running.
  void start();
  // stop() then start(): registrations are lost (usrloc in memory only).
  void restart();
  bool running() const;
  pid_t pid() const { return pid_; }
  std::chrono::milliseconds last_start_duration() const { return last_start_duration_; }

  // The server's stderr log (appended across restarts).
  std::filesystem::path log_path() const;
  std::string log_contents() const;
  std::uintmax_t log_size() const;
  // MESSAGE requests logged since `offset` (a log_size() taken earlier).
  std::vector<KamailioMessage> logged_messages(std::uintmax_t offset = 0) const;

 private:
  void write_config() const;
  void write_users() const;
  void launch(bool* port_in_use);
  void wait_until_ready(bool* port_in_use);
  bool answers_options() const;
  std::string failure_details() const;

  KamailioOptions opts_;
  TempDir dir_;
  uint16_t udp_port_ = 0;
  uint16_t tcp_port_ = 0;
  uint16_t tls_port_ = 0;
  std::string cert_sha256_;
  mutable pid_t pid_ = -1;
  std::unique_ptr<detail::GroupWatchdog> watchdog_;  // kills the group if the test dies
  std::chrono::milliseconds last_start_duration_{0};
  std::uintmax_t log_offset_ = 0;
  int users_version_ = 0;
};

}  // namespace sotto::test
