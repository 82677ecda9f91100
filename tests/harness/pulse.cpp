#include "harness/pulse.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "harness/process.h"
#include "harness/util.h"

namespace sotto::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartDeadline = 10s;
constexpr auto kStopTimeout = 5s;
constexpr auto kCommandDeadline = 30s;

bool socket_accepts(const fs::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(detail::errno_text("socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) {
    ::close(fd);
    throw std::runtime_error("socket path too long: " + p);
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

PulseServer::PulseServer(std::string sink) : sink_(std::move(sink)), dir_("sotto-pulse") {
  for (const char* sub : {"home", "runtime", "config", "state"}) {
    fs::create_directories(dir_.path() / sub);
    fs::permissions(dir_.path() / sub, fs::perms::owner_all, fs::perm_options::replace);
  }
  std::ofstream script(dir_.path() / "default.pa");
  script << "load-module module-null-sink sink_name=" << sink_
         << " rate=48000 channels=1 format=s16le\n"
         << "load-module module-native-protocol-unix auth-anonymous=1 socket="
         << (dir_.path() / "native").string() << "\n";
  script.close();
  if (!script) throw std::runtime_error("cannot write " + (dir_.path() / "default.pa").string());
  start();
}

PulseServer::~PulseServer() {
  try {
    stop();
  } catch (...) {
  }
}

std::string PulseServer::server() const { return "unix:" + (dir_.path() / "native").string(); }

fs::path PulseServer::log_path() const { return dir_.path() / "pulseaudio.log"; }

std::string PulseServer::log_contents() const { return detail::read_file(log_path()); }

std::map<std::string, std::string> PulseServer::environment() const {
  return {{"HOME", (dir_.path() / "home").string()},
          {"XDG_RUNTIME_DIR", (dir_.path() / "runtime").string()},
          {"XDG_CONFIG_HOME", (dir_.path() / "config").string()},
          {"PULSE_RUNTIME_PATH", (dir_.path() / "runtime").string()},
          {"PULSE_STATE_PATH", (dir_.path() / "state").string()},
          {"PULSE_SERVER", server()},
          {"DBUS_SESSION_BUS_ADDRESS", "disabled:"},
          {"DISPLAY", ""}};
}

bool PulseServer::running() const {
  if (pid_ <= 0) return false;
  return !detail::reap(&pid_).has_value();
}

void PulseServer::start() {
  if (running()) return;
  std::error_code ignored;
  fs::remove(dir_.path() / "native", ignored);
  // -n: no default script; the sink and the socket come from ours. No
  // realtime scheduling, no idle exit, no pid file (several may run).
  pid_ = detail::spawn(
      {"pulseaudio", "-n", "--daemonize=no", "--system=no", "--exit-idle-time=-1",
       "--disallow-exit=yes", "--use-pid-file=no", "--realtime=no", "--high-priority=no",
       "--log-target=stderr", "--log-level=info", "-F", (dir_.path() / "default.pa").string()},
      {.output = log_path(),
       .cwd = dir_.path(),
       .own_group = true,
       .die_with_parent = true,
       .env = environment()},
      "pulseaudio");
  try {
    watchdog_ = std::make_unique<detail::GroupWatchdog>(pid_);
    const auto deadline = Clock::now() + kStartDeadline;
    for (;;) {
      if (auto status = detail::reap(&pid_)) {
        throw std::runtime_error("pulseaudio " + detail::describe_status(*status) + ":\n" +
                                 detail::tail_lines(log_contents(), 20));
      }
      if (socket_accepts(dir_.path() / "native")) break;
      if (Clock::now() > deadline) {
        throw std::runtime_error("pulseaudio did not open its socket within 10 s:\n" +
                                 detail::tail_lines(log_contents(), 20));
      }
      std::this_thread::sleep_for(5ms);
    }
  } catch (...) {
    detail::signal_group_and_wait(&pid_, SIGKILL, kStopTimeout);
    watchdog_.reset();
    throw;
  }
}

void PulseServer::stop() {
  detail::signal_group_and_wait(&pid_, SIGTERM, kStopTimeout);
  watchdog_.reset();
}

void PulseServer::kill() {
  detail::signal_group_and_wait(&pid_, SIGKILL, kStopTimeout);
  watchdog_.reset();
}

std::string PulseServer::pactl(const std::vector<std::string>& args) const {
  const fs::path output = dir_.path() / "pactl.out";
  { std::ofstream truncate(output, std::ios::trunc); }
  std::vector<std::string> command{"pactl"};
  command.insert(command.end(), args.begin(), args.end());
  pid_t pid = detail::spawn(command, {.output = output, .env = environment()}, "pulseaudio-utils");
  const auto deadline = Clock::now() + kCommandDeadline;
  std::optional<int> status;
  while (!(status = detail::reap(&pid))) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw std::runtime_error("pactl timed out");
    }
    std::this_thread::sleep_for(2ms);
  }
  const std::string text = detail::read_file(output);
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    throw std::runtime_error("pactl " + (args.empty() ? "" : args[0]) + " " +
                             detail::describe_status(*status) + ":\n" +
                             detail::tail_lines(text, 20));
  }
  return text;
}

ScopedPulseServer::ScopedPulseServer(const std::string& server) {
  if (const char* old = std::getenv("PULSE_SERVER")) previous_ = old;
  ::setenv("PULSE_SERVER", server.c_str(), 1);
}

ScopedPulseServer::~ScopedPulseServer() {
  if (previous_) {
    ::setenv("PULSE_SERVER", previous_->c_str(), 1);
  } else {
    ::unsetenv("PULSE_SERVER");
  }
}

}  // namespace sotto::test
