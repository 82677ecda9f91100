#include "harness/rpc_client.h"
#include "harness/util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace sotto::test {
namespace {

using detail::errno_text;
using detail::temp_root;

using nlohmann::json;
using Clock = std::chrono::steady_clock;

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Writing to a child that has exited must give EPIPE, not kill the test.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

RpcError::RpcError(const std::string& method, json error)
    : std::runtime_error(method + " failed: " + error.dump()), error_(std::move(error)) {}

std::string RpcError::errc() const {
  auto data = error_.find("data");
  if (data == error_.end() || !data->is_object()) return {};
  return data->value("errc", "");
}

RpcProcess::RpcProcess(std::string sotto_path, std::vector<std::string> args,
                       std::map<std::string, std::string> env) {
  ignore_sigpipe();
  std::string pattern = temp_root() + "/sotto-rpc-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp"));
  temp_dir_ = pattern;
  stderr_path_ = temp_dir_ + "/stderr.log";
  int stderr_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (stderr_fd < 0) throw std::runtime_error(errno_text("open stderr log"));

  int to_child[2], from_child[2], exec_error[2];
  make_pipe(to_child);
  make_pipe(from_child);
  make_pipe(exec_error);
  make_pipe(wake_pipe_);

  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> argv_strings{sotto_path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // A test's profile never reaches the developer's desktop keyring: without a
  // session bus a profile without master password keeps its key in a file.
  env.emplace("DBUS_SESSION_BUS_ADDRESS", "");
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (env.find(name) == env.end()) env_strings.push_back(std::move(entry));
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(errno_text("fork"));
  if (pid_ == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::dup2(stderr_fd, STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    int error = errno;
    [[maybe_unused]] ssize_t n = ::write(exec_error[1], &error, sizeof error);
    ::_exit(127);
  }

  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(exec_error[1]);
  ::close(stderr_fd);
  stdin_fd_ = to_child[1];
  stdout_fd_ = from_child[0];

  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_error[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(exec_error[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_status_ = decode_status(status);
    close_fd(stdin_fd_);
    close_fd(stdout_fd_);
    close_fd(wake_pipe_[0]);
    close_fd(wake_pipe_[1]);
    std::filesystem::remove_all(temp_dir_);
    throw std::runtime_error("could not start " + sotto_path + ": " + std::strerror(exec_errno));
  }

  reader_ = std::thread([this] { reader_loop(); });
}

RpcProcess::~RpcProcess() {
  close_stdin();
  if (!wait_exit(5s)) kill();
  if (wake_pipe_[1] >= 0) {
    char byte = 0;
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &byte, 1);
  }
  if (reader_.joinable()) reader_.join();
  close_fd(stdout_fd_);
  close_fd(wake_pipe_[0]);
  close_fd(wake_pipe_[1]);
  if (std::getenv("SOTTO_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
}

// --- the reader thread -----------------------------------------------------------

void RpcProcess::reader_loop() {
  std::string pending;
  char buffer[65536];
  for (;;) {
    pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int ready = ::poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) break;
    if (fds[0].revents == 0) continue;
    ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t newline; (newline = pending.find('\n', start)) != std::string::npos;
         start = newline + 1) {
      handle_line(pending.substr(start, newline - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) handle_line(pending);
  std::lock_guard lock(mutex_);
  output_closed_ = true;
  changed_.notify_all();
}

void RpcProcess::handle_line(const std::string& line) {
  json message = json::parse(line, nullptr, false);
  std::lock_guard lock(mutex_);
  if (message.is_discarded() || !message.is_object() || message.value("jsonrpc", "") != "2.0") {
    stray_.push_back(line);
  } else if (!message.contains("id") && message.value("method", "") == "event") {
    json params = message.value("params", json::object());
    all_events_.push_back(params);
    queued_events_.push_back(std::move(params));
  } else if (message.contains("id") && (message.contains("result") || message.contains("error"))) {
    responses_.push_back(std::move(message));
  } else {
    stray_.push_back(line);
  }
  changed_.notify_all();
}

// --- requests -------------------------------------------------------------------

void RpcProcess::write_line(const std::string& line) {
  std::lock_guard lock(write_mutex_);
  if (stdin_fd_ < 0) throw std::runtime_error("sotto's stdin is already closed");
  std::string data = line + '\n';
  std::size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(stdin_fd_, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(describe_failure(errno_text("writing to sotto")));
    written += static_cast<std::size_t>(n);
  }
}

void RpcProcess::send_line(const std::string& line) { write_line(line); }

json RpcProcess::call_raw(const std::string& method, json params,
                          std::chrono::milliseconds timeout) {
  int64_t id;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
  }
  write_line(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}}
                 .dump());
  try {
    return wait_response(id, timeout);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(method + ": " + e.what());
  }
}

json RpcProcess::call(const std::string& method, json params, std::chrono::milliseconds timeout) {
  json response = call_raw(method, std::move(params), timeout);
  if (auto error = response.find("error"); error != response.end()) throw RpcError(method, *error);
  return response.value("result", json());
}

void RpcProcess::notify(const std::string& method, json params) {
  write_line(json{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}}.dump());
}

json RpcProcess::wait_response(const json& id, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    auto it = std::find_if(responses_.begin(), responses_.end(),
                           [&](const json& r) { return r.value("id", json()) == id; });
    if (it != responses_.end()) {
      json response = std::move(*it);
      responses_.erase(it);
      return response;
    }
    if (output_closed_) {
      lock.unlock();
      throw std::runtime_error(
          describe_failure("sotto closed its output without answering request " + id.dump()));
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        Clock::now() >= deadline) {
      lock.unlock();
      throw std::runtime_error(describe_failure("no answer to request " + id.dump() + " within " +
                                                std::to_string(timeout.count()) + " ms"));
    }
  }
}

// --- events ---------------------------------------------------------------------

json RpcProcess::wait_event(std::function<bool(const json& params)> match,
                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const auto matches = [&](const json& params) {
    try {
      return match(params);
    } catch (const json::exception&) {
      return false;  // a predicate reaching into a field the event lacks
    }
  };
  std::unique_lock lock(mutex_);
  for (;;) {
    auto it = std::find_if(queued_events_.begin(), queued_events_.end(), matches);
    if (it != queued_events_.end()) {
      json params = std::move(*it);
      queued_events_.erase(it);
      return params;
    }
    if (output_closed_) {
      lock.unlock();
      throw std::runtime_error(
          describe_failure("sotto closed its output before the awaited event"));
    }
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        Clock::now() >= deadline) {
      lock.unlock();
      throw std::runtime_error(describe_failure("the awaited event did not come within " +
                                                std::to_string(timeout.count()) + " ms"));
    }
  }
}

std::vector<json> RpcProcess::events_seen() const {
  std::lock_guard lock(mutex_);
  return all_events_;
}

std::vector<std::string> RpcProcess::stray_output() const {
  std::lock_guard lock(mutex_);
  return stray_;
}

// --- the process ----------------------------------------------------------------

void RpcProcess::close_stdin() {
  std::lock_guard lock(write_mutex_);
  close_fd(stdin_fd_);
}

std::optional<int> RpcProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (exit_status_) return exit_status_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_status_ = decode_status(status);
      return exit_status_;
    }
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

void RpcProcess::kill() {
  if (exit_status_ || pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decode_status(status);
}

std::string RpcProcess::stderr_text() const {
  std::ifstream in(stderr_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string RpcProcess::describe_failure(const std::string& what) const {
  constexpr std::size_t kTail = 4096;
  constexpr std::size_t kMaxEvents = 40;
  std::string out = what;
  {
    std::lock_guard lock(mutex_);
    out += "\nevents seen (" + std::to_string(all_events_.size()) + "):";
    std::size_t first = all_events_.size() > kMaxEvents ? all_events_.size() - kMaxEvents : 0;
    if (first > 0) out += "\n  ... " + std::to_string(first) + " earlier";
    for (std::size_t i = first; i < all_events_.size(); ++i) {
      out += "\n  " + all_events_[i].dump(-1, ' ', false, json::error_handler_t::replace);
    }
    for (const auto& line : stray_) out += "\nstray output: " + line;
  }
  std::string err = stderr_text();
  if (err.size() > kTail) err = "..." + err.substr(err.size() - kTail);
  out += "\nsotto's stderr (" + stderr_path_ + "):\n" + err;
  return out;
}

}  // namespace sotto::test
