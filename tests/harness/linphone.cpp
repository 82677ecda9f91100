#include "harness/linphone.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>

#include "harness/process.h"
#include "harness/util.h"

namespace sotto::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using detail::errno_text;
using detail::read_file;
using detail::tail_lines;

}  // namespace

Linphone::Linphone(LinphoneOptions opts) : opts_(std::move(opts)), dir_("sotto-linphone") {
  const fs::path home = dir() / "home";
  fs::create_directories(home / ".local" / "share" / "linphone");
  fs::create_directories(home / ".config");
  auto ports = detail::free_ports(2, 0);
  sip_port_ = ports[0];
  uint16_t rtp = ports[1] & ~1U;
  if (rtp < 1024) rtp = static_cast<uint16_t>(rtp + 2);
  {
    std::ofstream rc(dir() / "linphonerc", std::ios::trunc);
    // Media encryption belongs in [sip]: liblinphone ignores it elsewhere.
    rc << "[sip]\nbind_address=127.0.0.1\nuse_ipv6=0\nguess_hostname=0\n"
       << "media_encryption=" << opts_.media_encryption << "\n"
       << "media_encryption_mandatory=" << (opts_.media_encryption == "none" ? 0 : 1) << "\n";
    if (!opts_.zrtp_key_agreements.empty()) {
      rc << "zrtp_key_agreements_suites=" << opts_.zrtp_key_agreements << "\n";
    }
    rc << "sip_port=" << sip_port_ << "\nsip_tcp_port=-1\nsip_tls_port=-1\n"
       << "register_only_when_network_is_up=0\n"
       << (opts_.proxy_port != 0 ? "default_proxy=0\n" : "default_proxy=-1\n")
       << "[rtp]\nbind_address=127.0.0.1\naudio_rtp_port=" << rtp
       << "\nvideo_rtp_port=" << (rtp + 10) << "\n"
       << "[net]\nfirewall_policy=0\n"
       << "[sound]\nechocancellation=0\n"
       << "[video]\nenabled=0\ncapture=0\ndisplay=0\nautomatically_initiate=0\n"
       << "automatically_accept=0\n";
    if (opts_.proxy_port != 0) {
      rc << "[proxy_0]\nreg_proxy=sip:127.0.0.1:" << opts_.proxy_port << "\n"
         << "reg_identity=" << address() << "\nreg_expires=600\nreg_sendregister=1\n"
         << "publish=0\n"
         << "[auth_info_0]\nusername=" << opts_.user << "\npasswd=" << opts_.password
         << "\nrealm=" << opts_.domain << "\ndomain=" << opts_.domain << "\n";
    }
    if (!rc.flush()) throw std::runtime_error("could not write the linphonec rc");
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  stdin_fd_ = pipe_fds[1];
  std::vector<std::string> args{"linphonec", "-c", (dir() / "linphonerc").string()};
  if (opts_.auto_answer) args.push_back("-a");
  try {
    pid_ = detail::spawn(args,
                         {.output = output_path(),
                          .cwd = dir(),
                          .stdin_fd = pipe_fds[0],
                          .own_group = true,
                          .die_with_parent = true,
                          .env = {{"HOME", home.string()},
                                  {"XDG_CONFIG_HOME", (home / ".config").string()},
                                  {"XDG_DATA_HOME", (home / ".local" / "share").string()}}},
                         "linphone-cli");
  } catch (...) {
    ::close(pipe_fds[0]);
    throw;
  }
  ::close(pipe_fds[0]);
  wait_for("linphonec> ", 15s);
  command("soundcard use files");
  wait_for("Using wav files", 5s);
}

Linphone::~Linphone() {
  if (pid_ > 0) {
    try {
      command("terminate all");
      command("quit");
    } catch (...) {
    }
    const auto deadline = Clock::now() + 5s;
    while (running() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    detail::signal_group_and_wait(&pid_, SIGKILL, 2s);
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
}

fs::path Linphone::output_path() const { return dir() / "linphonec.out"; }
std::string Linphone::output() const { return read_file(output_path()); }

bool Linphone::running() const {
  if (pid_ <= 0) return false;
  return !detail::reap(&pid_).has_value();
}

void Linphone::command(const std::string& line) {
  if (stdin_fd_ < 0) throw std::runtime_error("linphonec's stdin is closed");
  const std::string text = line + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(stdin_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(errno_text("write to linphonec"));
    done += static_cast<std::size_t>(n);
  }
}

void Linphone::skip_output() { cursor_ = output().size(); }

std::string Linphone::wait_for(const std::string& pattern, std::chrono::milliseconds timeout) {
  const std::regex re(pattern);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::string text = read_file(output_path());
    if (cursor_ < text.size()) {
      std::smatch m;
      const auto begin = text.begin() + static_cast<std::ptrdiff_t>(cursor_);
      if (std::regex_search(begin, text.end(), m, re)) {
        cursor_ += static_cast<std::size_t>(m.position(0) + m.length(0));
        return m.str(0);
      }
    }
    const bool alive = running();
    if (!alive || Clock::now() > deadline) {
      throw std::runtime_error("linphonec (" + opts_.user + "): no /" + pattern + "/ " +
                               (alive ? "within the deadline" : "before it exited") +
                               "; its output ends with:\n" + tail_lines(text, 25));
    }
    std::this_thread::sleep_for(10ms);
  }
}

void Linphone::wait_registered(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    command("status register");
    const std::string line =
        wait_for(R"((registered, identity=\S+)|(registered=-?\d+)|(unregistered))", 5s);
    if (line.rfind("registered, identity=", 0) == 0) return;
    if (Clock::now() > deadline) {
      throw std::runtime_error("linphonec (" + opts_.user + ") did not register: " + line + "\n" +
                               tail_lines(output(), 25));
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace sotto::test
