#include "harness/prosody.h"
#include "harness/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sotto::test {
namespace {

using detail::errno_text;
using detail::find_executable;
using detail::read_file;
using detail::tail_lines;
using detail::temp_root;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartDeadline = 10s;
constexpr auto kPollInterval = 10ms;
constexpr auto kStopTimeout = 5s;
constexpr auto kCommandTimeout = 30s;
constexpr int kStartAttempts = 3;  // fresh ports when another process took ours

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// The absolute path of `name` on $PATH, resolved before fork (execv after fork).

struct SpawnOptions {
  fs::path output{};       // stdout and stderr, appended
  fs::path cwd{};          // empty: inherit
  bool own_group = false;  // setpgid(0, 0)
  bool die_with_parent = false;
};

// fork + execv with stdin from /dev/null and every other inherited descriptor
// closed. Throws if the program cannot be executed.
pid_t spawn(const std::vector<std::string>& args, const SpawnOptions& options) {
  std::vector<std::string> argv_strings = args;
  argv_strings[0] = find_executable(args[0], args[0] == "openssl" ? "openssl" : "prosody");
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  Fd out(::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (out.get() < 0) throw std::runtime_error(errno_text("open " + options.output.string()));
  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_in.get() < 0) throw std::runtime_error(errno_text("open /dev/null"));
  int exec_error[2];
  if (::pipe2(exec_error, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  Fd error_read(exec_error[0]);
  Fd error_write(exec_error[1]);
  const std::string cwd = options.cwd.string();
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (options.own_group) ::setpgid(0, 0);
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
    }
    ::dup2(null_in.get(), STDIN_FILENO);
    ::dup2(out.get(), STDOUT_FILENO);
    ::dup2(out.get(), STDERR_FILENO);
    // The test's own sockets and pipes must not stay open in the server
    // (a peer would never see EOF); keep only the exec error pipe (CLOEXEC).
    ::close_range(3, static_cast<unsigned>(error_write.get()) - 1, 0);
    ::close_range(static_cast<unsigned>(error_write.get()) + 1, ~0U, 0);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      int error = errno;
      [[maybe_unused]] ssize_t n = ::write(error_write.get(), &error, sizeof error);
      ::_exit(127);
    }
    ::execv(argv[0], argv.data());
    int error = errno;
    [[maybe_unused]] ssize_t n = ::write(error_write.get(), &error, sizeof error);
    ::_exit(127);
  }
  if (options.own_group) ::setpgid(pid, pid);  // also here: no race with a killpg
  error_write.reset();

  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(error_read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error("could not execute " + argv_strings[0] + ": " +
                             std::strerror(exec_errno));
  }
  return pid;
}

// Runs a command to completion; its output goes to `output` (truncated first).
// Throws with that output unless it exits with status 0.
void run_command(const std::vector<std::string>& args, const fs::path& output,
                 const std::string& what) {
  { std::ofstream truncate(output, std::ios::trunc); }
  pid_t pid = spawn(args, {.output = output});
  int status = 0;
  auto deadline = Clock::now() + kCommandTimeout;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw std::runtime_error(errno_text("waitpid"));
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error(what + " timed out after 30 s:\n" +
                               tail_lines(read_file(output), 20));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(what + " failed (" + describe_status(status) + "):\n" +
                             tail_lines(read_file(output), 20));
  }
}

bool tcp_accepts(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// Distinct free ports: all are held bound at once before being released.
std::vector<uint16_t> free_tcp_ports(std::size_t count) {
  std::deque<Fd> sockets;
  std::vector<uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    Fd& fd = sockets.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) throw std::runtime_error(errno_text("socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error(errno_text("bind 127.0.0.1:0"));
    }
    socklen_t len = sizeof addr;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error(errno_text("getsockname"));
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  return ports;
}

std::string lua_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\" + std::to_string(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// util/datamanager.lua's encode(): every byte that is not [A-Za-z0-9] becomes %xx.
std::string datamanager_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02x", c);
      out += buf;
    }
  }
  return out;
}

void check_domain(const std::string& domain) {
  bool ok = !domain.empty() && domain.size() < 254;
  for (char c : domain) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-');
  }
  if (!ok) throw std::runtime_error("Prosody test domain must be [A-Za-z0-9.-]+: " + domain);
}

std::string sha256_of_cert_der(const fs::path& pem) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(pem.c_str(), "r"), &std::fclose);
  if (!file) throw std::runtime_error(errno_text("open " + pem.string()));
  std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr),
                                              &X509_free);
  if (!cert) throw std::runtime_error("no PEM certificate in " + pem.string());
  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert.get(), &der);
  if (der_len <= 0) throw std::runtime_error("i2d_X509 failed for " + pem.string());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  int ok = EVP_Digest(der, static_cast<std::size_t>(der_len), digest.data(), &digest_len,
                      EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) throw std::runtime_error("EVP_Digest(SHA-256) failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < digest_len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = temp_root() + "/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp"));
  path_ = pattern;
}

TempDir::~TempDir() {
  // SOTTO_KEEP_TEST_DIRS=1 keeps profiles, server data and logs for a post-mortem.
  if (std::getenv("SOTTO_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

uint16_t free_tcp_port() { return free_tcp_ports(1)[0]; }

Prosody::Prosody(ProsodyOptions opts) : opts_(std::move(opts)), dir_("sotto-prosody") {
  check_domain(opts_.domain);
  fs::create_directory(dir() / "data");
  fs::create_directory(dir() / "certs");
  ::chmod((dir() / "certs").c_str(), 0700);

  const fs::path key = dir() / "certs" / (opts_.domain + ".key");
  run_command(
      {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-days", "30", "-subj", "/CN=" + opts_.domain, "-addext",
       "subjectAltName=DNS:" + opts_.domain, "-keyout", key.string(), "-out", cert_pem().string()},
      dir() / "openssl.out", "openssl req (self-signed certificate)");
  ::chmod(key.c_str(), 0600);
  cert_sha256_ = sha256_of_cert_der(cert_pem());

  for (int attempt = 1;; ++attempt) {
    auto ports = free_tcp_ports(opts_.direct_tls ? 2 : 1);
    c2s_port_ = ports[0];
    tls_port_ = opts_.direct_tls ? ports[1] : 0;
    write_config();
    bool port_in_use = false;
    try {
      launch(&port_in_use);
      return;
    } catch (const std::runtime_error&) {
      if (!port_in_use || attempt == kStartAttempts) throw;
    }
  }
}

Prosody::~Prosody() {
  try {
    stop();
  } catch (...) {
    if (pid_ > 0) {
      ::killpg(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
}

fs::path Prosody::cert_pem() const { return dir() / "certs" / (opts_.domain + ".crt"); }
fs::path Prosody::config_path() const { return dir() / "prosody.cfg.lua"; }
fs::path Prosody::log_path() const { return dir() / "prosody.log"; }
fs::path Prosody::output_path() const { return dir() / "prosody.out"; }
std::string Prosody::log_contents() const { return read_file(log_path()); }

void Prosody::write_config() const {
  const std::string d = dir().string();
  const std::string ssl = "{ certificate = " + lua_string(cert_pem().string()) + ", key = " +
                          lua_string((dir() / "certs" / (opts_.domain + ".key")).string()) + " }";
  std::ostringstream c;
  c << "-- Written by sotto::test::Prosody (tests/harness/prosody.cpp). Start with\n"
    << "-- `prosody -F --config THIS_FILE` only.\n"
    << "\n"
    << "-- We may run as root in containers: keep the process and its files ours\n"
    << "-- (prosodyctl would otherwise switch to the 'prosody' user, mod_posix refuse to run).\n"
    << "run_as_root = true\n"
    << "data_path = " << lua_string(d + "/data") << "\n"
    << "pidfile = " << lua_string(d + "/prosody.pid") << "\n"
    << "admin_socket = " << lua_string(d + "/admin.sock") << "\n"
    << "certificates = " << lua_string(d + "/certs") << "\n"
    << "plugin_paths = { }\n"
    << "log = { debug = " << lua_string(d + "/prosody.log") << " }\n"
    << "\n"
    << "interfaces = { \"127.0.0.1\" }\n"
    << "local_interfaces = { \"127.0.0.1\" }\n"
    << "c2s_ports = { " << c2s_port_ << " }\n"
    << "c2s_direct_tls_ports = { " << (opts_.direct_tls ? std::to_string(tls_port_) + " " : "")
    << "}\n"
    << "legacy_ssl_ports = { }\n"
    << "s2s_ports = { }\n"
    << "s2s_direct_tls_ports = { }\n"
    << "component_ports = { }\n"
    << "http_ports = { }\n"
    << "https_ports = { }\n"
    << "network_settings = { nagle = false }\n"
    << "\n"
    << "c2s_require_encryption = true\n"
    << "authentication = \"internal_hashed\"\n"
    << "storage = \"internal\"\n"
    << "allow_registration = " << (opts_.allow_registration ? "true" : "false") << "\n"
    << "registration_allowlist = { \"127.0.0.1\", \"::1\" }\n"
    << "default_archive_policy = true\n"
    << "smacks_hibernation_time = 60\n"
    << "\n"
    << "-- 'register' gives password change and account removal; in-band\n"
    << "-- registration of new accounts only with allow_registration = true.\n"
    << "modules_enabled = {\n"
    << "  \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"carbons\"; \"mam\"; \"smacks\";\n"
    << "  \"offline\"; \"register\"; \"ping\";\n"
    << "  \"stanza_debug\"; -- every stanza in the debug log\n"
    << "}\n"
    << "modules_disabled = { \"s2s\"; \"s2s_auth_certs\"; \"dialback\" }\n"
    << "\n"
    << "ssl = " << ssl << "\n"
    << "\n"
    << "VirtualHost " << lua_string(opts_.domain) << "\n"
    << "  ssl = " << ssl << "\n";
  std::ofstream out(config_path(), std::ios::trunc);
  out << c.str();
  if (!out.flush()) throw std::runtime_error("could not write " + config_path().string());
}

void Prosody::register_user(const std::string& user, const std::string& password) {
  run_command(
      {"prosodyctl", "--config", config_path().string(), "register", user, opts_.domain, password},
      dir() / "prosodyctl.out", "prosodyctl register " + user + " " + opts_.domain);
}

bool Prosody::user_exists(const std::string& user) const {
  std::string node = user;  // nodeprep, for the ASCII names tests use
  for (char& ch : node) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return fs::exists(dir() / "data" / datamanager_encode(opts_.domain) / "accounts" /
                    (datamanager_encode(node) + ".dat"));
}

bool Prosody::poll_child() const {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return true;
  if (r == pid_) last_exit_status_ = status;
  pid_ = -1;
  return false;
}

bool Prosody::running() const { return poll_child(); }

void Prosody::start() {
  if (running()) return;
  launch(nullptr);
}

void Prosody::launch(bool* port_in_use) {
  std::error_code ignored;
  log_offset_ = fs::exists(log_path()) ? fs::file_size(log_path(), ignored) : 0;
  output_offset_ = fs::exists(output_path()) ? fs::file_size(output_path(), ignored) : 0;
  last_exit_status_.reset();
  auto started = Clock::now();
  pid_ = spawn({"prosody", "-F", "--config", config_path().string()},
               {.output = output_path(), .cwd = dir(), .own_group = true, .die_with_parent = true});
  try {
    wait_until_ready(port_in_use);
  } catch (...) {
    if (pid_ > 0) {
      ::killpg(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    throw;
  }
  last_start_duration_ =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
}

void Prosody::wait_until_ready(bool* port_in_use) {
  // Logged right after each listen(); the direct TLS port is not probed with
  // a connection (an aborted handshake would only add noise to the log).
  const std::string c2s_activated =
      "Activated service 'c2s' on [127.0.0.1]:" + std::to_string(c2s_port_);
  const std::string tls_activated =
      "Activated service 'c2s_direct_tls' on [127.0.0.1]:" + std::to_string(tls_port_);
  const auto deadline = Clock::now() + kStartDeadline;
  for (;;) {
    if (!poll_child()) {
      throw std::runtime_error(
          "prosody " +
          (last_exit_status_ ? describe_status(*last_exit_status_) : std::string("is gone")) +
          " before accepting on port " + std::to_string(c2s_port_) + "\n" + failure_details());
    }
    // Prosody keeps running when it cannot bind a port; someone else may even
    // be accepting on it. Its log says so.
    std::string log = read_file(log_path(), log_offset_);
    if (log.find("Failed to open server port") != std::string::npos) {
      if (port_in_use != nullptr) *port_in_use = true;
      throw std::runtime_error("prosody could not bind its ports (" + std::to_string(c2s_port_) +
                               ", " + std::to_string(tls_port_) + ")\n" + failure_details());
    }
    if (log.find(c2s_activated) != std::string::npos &&
        (tls_port_ == 0 || log.find(tls_activated) != std::string::npos) &&
        tcp_accepts(c2s_port_)) {
      return;
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("prosody did not accept on 127.0.0.1:" + std::to_string(c2s_port_) +
                               " within 10 s\n" + failure_details());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void Prosody::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return;
  const pid_t group = pid_;
  ::killpg(group, sig);
  const auto deadline = Clock::now() + timeout;
  while (poll_child()) {
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(1ms);  // exits take a few ms; tests restart often
  }
  if (pid_ > 0) {  // still there: no more waiting
    ::killpg(group, SIGKILL);
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) last_exit_status_ = status;
    pid_ = -1;
  }
  ::killpg(group, SIGKILL);  // anything it left in its group (ESRCH when none)
}

void Prosody::kill() { signal_and_wait(SIGKILL, kStopTimeout); }

void Prosody::stop() { signal_and_wait(SIGTERM, kStopTimeout); }

std::string Prosody::failure_details() const {
  std::string details = "--- " + output_path().string() + " (this start, last lines):\n" +
                        tail_lines(read_file(output_path(), output_offset_), 20);
  details += "--- " + log_path().string() + " (this start, last lines):\n" +
             tail_lines(read_file(log_path(), log_offset_), 20);
  return details;
}

}  // namespace sotto::test
