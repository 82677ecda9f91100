#include "harness/profanity.h"
#include "harness/util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sotto::test {
namespace {

using detail::errno_text;
using detail::find_executable;
using detail::read_file;
using detail::tail_lines;

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kPollInterval = 5ms;
constexpr auto kTmuxCommandTimeout = 5s;
constexpr auto kQuitTimeout = 5s;
constexpr const char* kSession = "profanity";
constexpr const char* kTarget = "=profanity:";  // the session's current window

void write_file(const fs::path& path, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("could not write " + path.string());
  }
  ::chmod(path.c_str(), mode);
}

// The absolute path of `name` on $PATH (execve after fork does no lookup).

// Whether `pid` is a live process (not gone, not a zombie: tmux can be slow
// to reap its pane's process).
bool process_exists(pid_t pid) {
  if (pid <= 0) return false;
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

struct Child {
  pid_t pid = -1;
  int output_fd = -1;  // read end of stdout+stderr, or -1
};

// fork + execve with stdin from /dev/null, every other inherited descriptor
// closed, and stdout/stderr to a pipe (capture) or /dev/null.
Child spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, bool capture,
            bool die_with_parent) {
  std::vector<std::string> argv_strings = args;
  argv_strings[0] = find_executable(args[0], args[0]);
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = env;
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) throw std::runtime_error(errno_text("open /dev/null"));
  int out[2] = {-1, -1};
  if (capture && ::pipe2(out, O_CLOEXEC) != 0) {
    ::close(null_fd);
    throw std::runtime_error(errno_text("pipe2"));
  }
  const int out_write = capture ? out[1] : null_fd;
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    if (capture) {
      ::close(out[0]);
      ::close(out[1]);
    }
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(126);
    }
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(out_write, STDOUT_FILENO);
    ::dup2(out_write, STDERR_FILENO);
    ::close_range(3, ~0U, 0);  // the test's pipes and sockets stay out of tmux
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(null_fd);
  if (capture) ::close(out[1]);
  return {pid, capture ? out[0] : -1};
}

}  // namespace

Profanity::Profanity(const Prosody& server, const std::string& jid, const std::string& password,
                     ProfanityOptions options)
    : dir_("sotto-profanity"), options_(std::move(options)) {
  jid_ = jid.find('@') == std::string::npos ? jid + "@" + server.domain() : jid;
  account_ = jid_.substr(0, jid_.find('@'));
  for (const std::string& value : {password, options_.resource, options_.otr_policy}) {
    if (value.find_first_of("\n\r") != std::string::npos) {
      throw std::invalid_argument("Profanity: newline in an account setting");
    }
  }

  const fs::path config = home() / ".config";
  const fs::path data = home() / ".local" / "share";
  const fs::path runtime = dir() / "run";
  for (const fs::path& d : {config / "profanity", data / "profanity" / "plugins", runtime}) {
    fs::create_directories(d);
  }
  ::chmod(runtime.c_str(), 0700);

  // The keys are what `/account set`, `/inpblock`, `/plugins load`,
  // `/notify ... off` and `/save` write.
  std::ostringstream accounts;
  accounts << "[" << account_ << "]\n"
           << "enabled=true\n"
           << "jid=" << jid_ << "\n"
           << "resource=" << options_.resource << "\n"
           << "server=127.0.0.1\n"
           << "port=" << server.c2s_port() << "\n"
           << "tls.policy=trust\n"  // accepts Prosody's self-signed certificate
           << "password=" << password << "\n"
           << "otr.policy=" << options_.otr_policy << "\n";
  write_file(data / "profanity" / "accounts", accounts.str());

  std::ostringstream profrc;
  profrc << "[ui]\n"
         << "inpblock=" << options_.inpblock.count() << "\n"
         << "inpblock.dynamic=false\n"
         << "\n[plugins]\n"
         << "load=sotto_events.py;\n"
         << "\n[otr]\n"
         << "policy=" << options_.otr_policy << "\n"
         << "\n[notifications]\n"  // no desktop notifications (D-Bus)
         << "message=false\nroom=false\ntyping=false\ninvite=false\nsub=false\n"
         << "\n"
         << options_.extra_profrc << "\n";
  write_file(config / "profanity" / "profrc", profrc.str());
  fs::copy_file(SOTTO_PROFANITY_PLUGIN, data / "profanity" / "plugins" / "sotto_events.py",
                fs::copy_options::overwrite_existing);

  // The environment of tmux, and so of profanity: this process's, with a
  // private HOME and XDG directories, no desktop session (D-Bus, X11,
  // Wayland), no outer tmux, and a UTF-8 locale.
  const std::map<std::string, std::string> overrides{
      {"HOME", home().string()},
      {"XDG_CONFIG_HOME", config.string()},
      {"XDG_DATA_HOME", data.string()},
      {"XDG_CACHE_HOME", (home() / ".cache").string()},
      {"XDG_STATE_HOME", (home() / ".local" / "state").string()},
      {"XDG_RUNTIME_DIR", runtime.string()},
      {"DBUS_SESSION_BUS_ADDRESS", ""},
      {"LANG", "C.UTF-8"},
      {"LC_ALL", "C.UTF-8"},
      {"TERM", "xterm-256color"},
      {"SOTTO_PROFANITY_EVENTS", events_path().string()},
  };
  const std::set<std::string> removed{"TMUX",      "TMUX_PANE", "DISPLAY", "WAYLAND_DISPLAY",
                                      "GNUPGHOME", "LANGUAGE"};
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (overrides.count(name) == 0 && removed.count(name) == 0) env_.push_back(std::move(entry));
  }
  for (const auto& [name, value] : overrides) env_.push_back(name + "=" + value);

  find_executable("profanity", "profanity");  // a clear error before tmux starts
  started_ = Clock::now();
  tmux_pid_ = spawn({"tmux", "-u", "-S", (dir() / "tmux.sock").string(), "-f", "/dev/null", "-D"},
                    env_, false, true)
                  .pid;
  try {
    // The socket appears once the server listens.
    const auto deadline = Clock::now() + kTmuxCommandTimeout;
    while (!fs::exists(dir() / "tmux.sock")) {
      if (::waitpid(tmux_pid_, nullptr, WNOHANG) == tmux_pid_) {
        tmux_pid_ = -1;
        throw std::runtime_error("tmux server exited at start");
      }
      if (Clock::now() > deadline) throw std::runtime_error("tmux server did not start in 5 s");
      std::this_thread::sleep_for(1ms);
    }
    tmux({"new-session", "-d", "-s", kSession, "-x", "200", "-y", "50", "--", "profanity", "-a",
          account_, "-l", "DEBUG"});
    std::string pid = tmux({"display-message", "-p", "-t", kTarget, "#{pane_pid}"});
    profanity_pid_ = std::stoi(pid);
    if (options_.wait_for_login) wait_logged_in(options_.login_timeout);
  } catch (...) {
    quit();
    throw;
  }
}

Profanity::~Profanity() { quit(); }

fs::path Profanity::home() const { return dir() / "home"; }
fs::path Profanity::log_path() const {
  return home() / ".local" / "share" / "profanity" / "logs" / "profanity.log";
}
fs::path Profanity::events_path() const { return dir() / "events.jsonl"; }

std::string Profanity::tmux(std::vector<std::string> args, bool check) const {
  args.insert(args.begin(), {"tmux", "-u", "-S", (dir() / "tmux.sock").string()});
  Child child = spawn(args, env_, true, false);
  std::string output;
  const auto deadline = Clock::now() + kTmuxCommandTimeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      timed_out = true;
      break;
    }
    pollfd fd{child.output_fd, POLLIN, 0};
    int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[16384];
    ssize_t n = ::read(child.output_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(child.output_fd);
  if (timed_out) ::kill(child.pid, SIGKILL);
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (check && (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
    std::string command;
    for (std::size_t i = 4; i < args.size(); ++i) command += " " + args[i];
    throw std::runtime_error("tmux" + command + (timed_out ? " timed out" : " failed") + ": " +
                             output);
  }
  return output;
}

bool Profanity::running() const { return process_exists(profanity_pid_); }

void Profanity::wait_logged_in(std::chrono::milliseconds timeout) {
  if (logged_in_) return;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    read_events();
    for (const json& e : all_events_) {
      if (e.value("event", "") == "connected") {
        logged_in_ = true;
        login_duration_ =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
        return;
      }
    }
    if (!running()) {
      throw std::runtime_error("profanity exited before logging in as " + jid_ + "\n" +
                               failure_details());
    }
    if (read_file(log_path()).find("Login failed") != std::string::npos) {
      throw std::runtime_error("profanity: login failed for " + jid_ + "\n" + failure_details());
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("profanity did not log in as " + jid_ + " in " +
                               std::to_string(timeout.count()) + " ms\n" + failure_details());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void Profanity::command(const std::string& line) {
  if (line.find_first_of("\n\r") != std::string::npos) {
    throw std::invalid_argument("Profanity::command: newline in " + line);
  }
  if (!running()) throw std::runtime_error("profanity is not running\n" + failure_details());
  // -l: the text as keys, not key names; "--": text may start with '-'.
  tmux({"send-keys", "-t", kTarget, "-l", "--", line});
  tmux({"send-keys", "-t", kTarget, "Enter"});
}

void Profanity::send(const std::string& to, const std::string& text) {
  command("/msg " + to + " " + text);
}

void Profanity::read_events() {
  std::ifstream in(events_path(), std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(events_offset_));
  std::ostringstream chunk;
  chunk << in.rdbuf();
  std::string text = chunk.str();
  events_offset_ += text.size();
  partial_line_ += text;
  std::size_t start = 0;
  for (std::size_t newline; (newline = partial_line_.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    json event = json::parse(partial_line_.substr(start, newline - start), nullptr, false);
    if (event.is_discarded()) {
      event = json{{"event", "unparsable"}, {"line", partial_line_.substr(start, newline - start)}};
    }
    queued_events_.push_back(event);
    all_events_.push_back(std::move(event));
  }
  partial_line_.erase(0, start);
}

json Profanity::wait_event(std::function<bool(const json&)> match,
                           std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    read_events();
    for (auto it = queued_events_.begin(); it != queued_events_.end(); ++it) {
      if (match(*it)) {
        json event = std::move(*it);
        queued_events_.erase(it);
        return event;
      }
    }
    if (Clock::now() > deadline || !running()) {
      std::string seen;
      for (const json& e : all_events_) {
        std::string line = e.dump();
        if (line.size() > 300) line = line.substr(0, 300) + "...";
        seen += "  " + line + "\n";
      }
      throw std::runtime_error(
          std::string("profanity: no matching event ") +
          (running() ? "in " + std::to_string(timeout.count()) + " ms" : "(profanity exited)") +
          "; events seen:\n" + seen + failure_details());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

json Profanity::wait_message(const std::string& from, const std::string& body,
                             std::chrono::milliseconds timeout) {
  return wait_event(
      [&](const json& e) {
        return e.value("event", "") == "message.received" && e.value("from", "") == from &&
               e.value("body", "") == body;
      },
      timeout);
}

std::vector<json> Profanity::events_seen() {
  read_events();
  return all_events_;
}

std::string Profanity::screen() const {
  if (tmux_pid_ <= 0) return {};
  return tmux({"capture-pane", "-p", "-t", kTarget}, false);
}

std::vector<std::string> Profanity::wait_screen(const std::regex& pattern,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string text = screen();
    std::smatch match;
    if (std::regex_search(text, match, pattern)) {
      return std::vector<std::string>(match.begin(), match.end());
    }
    if (Clock::now() > deadline || !running()) {
      throw std::runtime_error("profanity: pattern not on screen " +
                               std::string(running()
                                               ? "in " + std::to_string(timeout.count()) + " ms"
                                               : "(profanity exited)") +
                               "\n" + failure_details());
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string Profanity::otr_fingerprint() {
  static const std::regex fingerprint("Your OTR fingerprint: ((?:[0-9A-F]{8} ){4}[0-9A-F]{8})");
  static const std::regex either(
      "Your OTR fingerprint: ((?:[0-9A-F]{8} ){4}[0-9A-F]{8})|You have not generated or loaded a "
      "private key");
  command("/clear");
  command("/otr myfp");
  auto found = wait_screen(either);
  if (!found[1].empty()) return found[1];
  command("/otr gen");
  wait_screen(std::regex("Private key generation complete"));
  command("/clear");
  command("/otr myfp");
  return wait_screen(fingerprint)[1];
}

namespace {

void check_argument(const std::string& what, const std::string& value, const char* forbidden) {
  if (value.empty() || value.find_first_of(forbidden) != std::string::npos) {
    throw std::invalid_argument("Profanity: unusable " + what + ": " + value);
  }
}

}  // namespace

void Profanity::focus_chat(const std::string& jid) {
  check_argument("JID", jid, " \t\n\r\"");
  // The title bar is the first row: " JID [presence] [encryption]...".
  const std::regex title("^ " + regex_escape(jid) + " ");
  if (std::regex_search(screen(), title)) return;
  command("/msg " + jid);
  wait_screen(title);
}

void Profanity::otr_start(const std::string& jid) {
  check_argument("JID", jid, " \t\n\r\"");
  command("/otr start " + jid);
}

void Profanity::otr_end(const std::string& jid) {
  focus_chat(jid);
  command("/otr end");
}

void Profanity::otr_secret(const std::string& jid, const std::string& secret) {
  check_argument("secret", secret, " \t\n\r\"");
  focus_chat(jid);
  command("/otr secret " + secret);
}

void Profanity::otr_question(const std::string& jid, const std::string& question,
                             const std::string& answer) {
  check_argument("question", question, "\n\r\"");
  check_argument("answer", answer, " \t\n\r\"");
  focus_chat(jid);
  command("/otr question \"" + question + "\" " + answer);
}

void Profanity::otr_answer(const std::string& jid, const std::string& answer) {
  check_argument("answer", answer, " \t\n\r\"");
  focus_chat(jid);
  command("/otr answer " + answer);
}

std::string Profanity::otr_state(const std::string& jid) {
  focus_chat(jid);
  std::string text = screen();
  std::string title = text.substr(0, text.find('\n'));
  if (title.find("[OTR] [trusted]") != std::string::npos) return "trusted";
  if (title.find("[OTR] [untrusted]") != std::string::npos) return "untrusted";
  if (title.find("[unencrypted]") != std::string::npos) return "unencrypted";
  return "";
}

void Profanity::wait_otr_state(const std::string& jid, const std::string& state,
                               std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string now = otr_state(jid);
    if (now == state) return;
    if (Clock::now() > deadline || !running()) {
      throw std::runtime_error("profanity: the chat with " + jid + " is \"" + now + "\", not \"" +
                               state + "\", after " + std::to_string(timeout.count()) + " ms\n" +
                               failure_details());
    }
    std::this_thread::sleep_for(10ms);
  }
}

std::string Profanity::otr_their_fingerprint(const std::string& jid) {
  focus_chat(jid);
  command("/clear");
  command("/otr theirfp");
  return wait_screen(
      std::regex(regex_escape(jid) + "'s OTR fingerprint: ((?:[0-9A-F]{8} ){4}[0-9A-F]{8})"))[1];
}

void Profanity::quit() {
  if (tmux_pid_ <= 0) return;
  try {
    if (running()) {
      tmux({"send-keys", "-t", kTarget, "-l", "--", "/quit"}, false);
      tmux({"send-keys", "-t", kTarget, "Enter"}, false);
      const auto deadline = Clock::now() + kQuitTimeout;
      while (running() && Clock::now() < deadline) std::this_thread::sleep_for(kPollInterval);
    }
  } catch (...) {
  }
  stop_tmux();
}

void Profanity::stop_tmux() {
  // After /quit, profanity's main thread has exited (zombie) or it is still
  // running; kill what is left. tmux 3.3 was seen leaving the dead pane
  // process unreaped for seconds, so waiting for that is pointless: once the
  // server is gone the zombie belongs to init.
  if (process_exists(profanity_pid_)) ::kill(profanity_pid_, SIGKILL);
  // The server (-D) is our child; its end closes any pane's terminal.
  if (tmux_pid_ > 0) {
    ::kill(tmux_pid_, SIGTERM);
    const auto deadline = Clock::now() + 2s;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(tmux_pid_, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (r == 0) {
      ::kill(tmux_pid_, SIGKILL);
      ::waitpid(tmux_pid_, &status, 0);
    }
    tmux_pid_ = -1;
  }
  const auto deadline = Clock::now() + 2s;
  while (process_exists(profanity_pid_) && Clock::now() < deadline) {
    ::kill(profanity_pid_, SIGKILL);
    std::this_thread::sleep_for(1ms);
  }
  profanity_pid_ = -1;
}

std::string Profanity::failure_details() const {
  std::string details =
      "--- " + log_path().string() + " (last lines):\n" + tail_lines(read_file(log_path()), 25);
  std::string text = screen();
  // Trailing blanks of the 200-column pane only hide what matters.
  std::string trimmed;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    line.erase(line.find_last_not_of(' ') + 1);
    if (!line.empty()) trimmed += line + "\n";
  }
  return details + "--- screen:\n" + trimmed;
}

std::string regex_escape(const std::string& text) {
  static const std::string special = R"(\^$.|?*+()[]{})";
  std::string out;
  for (char c : text) {
    if (special.find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::unique_ptr<Profanity> profanity_for_new_account(Prosody& server, const std::string& local) {
  server.register_user(local, "pw-" + local);
  auto client = std::make_unique<Profanity>(server, local, "pw-" + local);
  std::cout << "[ profanity ] start to logged in: " << client->login_duration().count() << " ms\n";
  return client;
}

}  // namespace sotto::test
