// Test side of `sotto rpc`: runs the program as a child process and talks
// JSON-RPC 2.0 to it over pipes, one object per line.
//
//   RpcProcess alice(SOTTO_CLI_PATH, {"--profile", "alice", "rpc"}, {{"XDG_DATA_HOME", dir}});
//   alice.call("account.connect", {{"address", a}, {"wait", true}});
//   json e = alice.wait_event([](const json& e) { return e["type"] == "message.received"; });
//
// A reader thread splits the child's stdout into responses (by id) and event
// notifications; calls and waits block the test thread only, with deadlines.
// The child's stderr goes to a file (stderr_path()) for failure messages.
// Depends only on nlohmann_json, the standard library and POSIX.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace sotto::test {

using namespace std::chrono_literals;

// An error response; what() holds the method and the error object as text.
class RpcError : public std::runtime_error {
 public:
  RpcError(const std::string& method, nlohmann::json error);
  const nlohmann::json& error() const { return error_; }
  int code() const { return error_.value("code", 0); }
  // data.errc ("certificate", "auth", ...), or "" for protocol-level errors.
  std::string errc() const;

 private:
  nlohmann::json error_;
};

class RpcProcess {
 public:
  // Starts `sotto_path args...` (args include the command, e.g. {"rpc"} or
  // {"--profile", "alice", "rpc"}) with `env` added to this process's
  // environment (overriding same-named variables).
  RpcProcess(std::string sotto_path, std::vector<std::string> args,
             std::map<std::string, std::string> env = {});
  // Closes stdin (which asks sotto to shut down), waits up to 5 s for it to
  // exit, then SIGKILLs it.
  ~RpcProcess();
  RpcProcess(const RpcProcess&) = delete;
  RpcProcess& operator=(const RpcProcess&) = delete;

  // Sends a request and returns its result. Throws RpcError for an error
  // response, std::runtime_error on timeout or when the process has gone
  // (the message includes the tail of its stderr).
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = 20s);
  // The same, returning the whole response object (result or error).
  nlohmann::json call_raw(const std::string& method,
                          nlohmann::json params = nlohmann::json::object(),
                          std::chrono::milliseconds timeout = 20s);
  // Sends a notification (a request without id: sotto carries it out and
  // answers nothing).
  void notify(const std::string& method, nlohmann::json params = nlohmann::json::object());

  // Writes one raw line (a newline is added) — for malformed input tests.
  void send_line(const std::string& line);
  // The next response with this id that no call has taken (id may be null:
  // parse errors and invalid requests are answered with a null id).
  nlohmann::json wait_response(const nlohmann::json& id, std::chrono::milliseconds timeout = 20s);

  // The params of the first queued event that matches, removed from the
  // queue; events that do not match stay queued for later waits. Throws
  // std::runtime_error on timeout, listing the events seen.
  nlohmann::json wait_event(std::function<bool(const nlohmann::json& params)> match,
                            std::chrono::milliseconds timeout = 20s);
  // Every event received so far, in order (taken by wait_event or not).
  std::vector<nlohmann::json> events_seen() const;
  // Lines on stdout that were not JSON-RPC messages (should stay empty).
  std::vector<std::string> stray_output() const;

  // Closes the child's stdin: end of input, which sotto treats as shutdown.
  void close_stdin();
  // Waits for the child to exit; its exit status (or 128 + signal), or
  // nullopt if it is still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  void kill();
  pid_t pid() const { return pid_; }

  const std::string& stderr_path() const { return stderr_path_; }
  std::string stderr_text() const;

 private:
  void reader_loop();
  void handle_line(const std::string& line);
  void write_line(const std::string& line);
  std::string describe_failure(const std::string& what) const;

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // wakes the reader when we stop it
  std::string temp_dir_;
  std::string stderr_path_;
  std::optional<int> exit_status_;
  std::mutex write_mutex_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<nlohmann::json> responses_;  // not yet taken
  std::deque<nlohmann::json> queued_events_;
  std::vector<nlohmann::json> all_events_;
  std::vector<std::string> stray_;
  bool output_closed_ = false;
  int64_t next_id_ = 1;

  std::thread reader_;
};

}  // namespace sotto::test
