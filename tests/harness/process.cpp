#include "harness/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

#include "harness/util.h"

extern char** environ;

namespace sotto::test::detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

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

}  // namespace

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

pid_t spawn(const std::vector<std::string>& args, const SpawnOptions& options,
            const std::string& package) {
  std::vector<std::string> argv_strings = args;
  argv_strings[0] = find_executable(args[0], package);
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // The environment, built before fork.
  std::map<std::string, std::string> env_map;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env_map[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) env_map[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_map) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  Fd out(::open(options.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (out.get() < 0) throw std::runtime_error(errno_text("open " + options.output.string()));
  Fd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_in.get() < 0) throw std::runtime_error(errno_text("open /dev/null"));
  const int in_fd = options.stdin_fd >= 0 ? options.stdin_fd : null_in.get();
  int exec_error[2];
  if (::pipe2(exec_error, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  Fd error_read(exec_error[0]);
  Fd error_write(exec_error[1]);
  const std::string cwd = options.cwd.string();
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) {
    if (options.own_group) ::setpgid(0, 0);
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
    }
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out.get(), STDOUT_FILENO);
    ::dup2(out.get(), STDERR_FILENO);
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
    ::execve(argv[0], argv.data(), envp.data());
    int error = errno;
    [[maybe_unused]] ssize_t n = ::write(error_write.get(), &error, sizeof error);
    ::_exit(127);
  }
  if (options.own_group) ::setpgid(pid, pid);
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

void run_command(const std::vector<std::string>& args, const fs::path& output,
                 const std::string& package) {
  {
    std::FILE* f = std::fopen(output.c_str(), "w");
    if (f != nullptr) std::fclose(f);
  }
  pid_t pid = spawn(args, {.output = output}, package);
  int status = 0;
  auto deadline = Clock::now() + 30s;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw std::runtime_error(errno_text("waitpid"));
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error(args[0] + " timed out after 30 s:\n" +
                               tail_lines(read_file(output), 20));
    }
    std::this_thread::sleep_for(5ms);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(args[0] + " " + (args.size() > 1 ? args[1] : "") + " failed (" +
                             describe_status(status) + "):\n" + tail_lines(read_file(output), 20));
  }
}

std::optional<int> reap(pid_t* pid) {
  if (*pid <= 0) return std::nullopt;
  int status = 0;
  pid_t r = ::waitpid(*pid, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return std::nullopt;
  *pid = -1;
  if (r < 0) return 0;
  return status;
}

std::optional<int> signal_group_and_wait(pid_t* pid, int sig, std::chrono::milliseconds timeout) {
  if (*pid <= 0) return std::nullopt;
  const pid_t group = *pid;
  ::killpg(group, sig);
  const auto deadline = Clock::now() + timeout;
  std::optional<int> status;
  while (*pid > 0 && !(status = reap(pid))) {
    if (Clock::now() > deadline) break;
    std::this_thread::sleep_for(2ms);
  }
  if (*pid > 0) {
    ::killpg(group, SIGKILL);
    int raw = 0;
    if (::waitpid(*pid, &raw, 0) == *pid) status = raw;
    *pid = -1;
  }
  ::killpg(group, SIGKILL);  // anything left in the group
  return status;
}

GroupWatchdog::GroupWatchdog(pid_t group) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    // Only async-signal-safe calls: wait for EOF (the test process is gone,
    // or disarm()), then kill the group.
    ::close_range(0, static_cast<unsigned>(fds[0]) - 1, 0);
    ::close_range(static_cast<unsigned>(fds[0]) + 1, ~0U, 0);
    char byte;
    while (::read(fds[0], &byte, 1) != 0 && errno == EINTR) {
    }
    ::killpg(group, SIGKILL);
    ::_exit(0);
  }
  ::close(fds[0]);
  write_fd_ = fds[1];
  pid_ = pid;
}

GroupWatchdog::~GroupWatchdog() { disarm(); }

void GroupWatchdog::disarm() {
  if (write_fd_ >= 0) ::close(write_fd_);
  write_fd_ = -1;
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::vector<uint16_t> free_ports(std::size_t udp, std::size_t tcp) {
  std::vector<std::unique_ptr<Fd>> held;
  std::vector<uint16_t> ports;
  std::set<uint16_t> seen;
  auto take = [&](int type) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto fd = std::make_unique<Fd>(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
      if (fd->get() < 0) throw std::runtime_error(errno_text("socket"));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        throw std::runtime_error(errno_text("bind 127.0.0.1:0"));
      }
      socklen_t len = sizeof addr;
      ::getsockname(fd->get(), reinterpret_cast<sockaddr*>(&addr), &len);
      const uint16_t port = ntohs(addr.sin_port);
      held.push_back(std::move(fd));
      if (seen.insert(port).second) {
        ports.push_back(port);
        return;
      }
    }
    throw std::runtime_error("no distinct free port");
  };
  for (std::size_t i = 0; i < udp; ++i) take(SOCK_DGRAM);
  for (std::size_t i = 0; i < tcp; ++i) take(SOCK_STREAM);
  return ports;
}

std::string cert_sha256_hex(const fs::path& pem) {
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

}  // namespace sotto::test::detail
