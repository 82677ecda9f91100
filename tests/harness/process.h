// Child processes for the SIP harnesses (kamailio.h, linphone.h): spawn with
// chosen stdin/stdout, run a command to completion, signal a process group and
// wait with a deadline. Not for tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sotto::test::detail {

struct SpawnOptions {
  std::filesystem::path output{};            // stdout and stderr, appended
  std::filesystem::path cwd{};               // empty: inherit
  int stdin_fd = -1;                         // -1: /dev/null
  bool own_group = false;                    // setpgid(0, 0)
  bool die_with_parent = false;              // PR_SET_PDEATHSIG SIGKILL
  std::map<std::string, std::string> env{};  // added to (overriding) this process's environment
};

// fork + execv of args[0] looked up on PATH (`package` names the Debian
// package in the error when it is missing). Every other descriptor is closed
// in the child. Throws if the program cannot be executed.
pid_t spawn(const std::vector<std::string>& args, const SpawnOptions& options,
            const std::string& package);

// Runs a command to completion (30 s at most) with its output in `output`;
// throws with the tail of that output unless it exits with status 0.
void run_command(const std::vector<std::string>& args, const std::filesystem::path& output,
                 const std::string& package);

// waitpid(WNOHANG): the raw status if the child has exited (then *pid = -1).
std::optional<int> reap(pid_t* pid);

// Sends `sig` to the process group `*pid` and waits up to `timeout` for the
// leader to exit, then SIGKILLs the group. Returns the raw status (or nullopt
// if there was no process). Sets *pid to -1.
std::optional<int> signal_group_and_wait(pid_t* pid, int sig, std::chrono::milliseconds timeout);

std::string describe_status(int status);

// A forked watchdog that SIGKILLs the process group `group` when this
// process dies (or when disarmed). PR_SET_PDEATHSIG only reaches the direct
// child; servers that fork their workers from it (Kamailio's creator forks
// the main process) would outlive a crashed test without it.
class GroupWatchdog {
 public:
  GroupWatchdog() = default;
  explicit GroupWatchdog(pid_t group);
  ~GroupWatchdog();  // disarm()
  GroupWatchdog(const GroupWatchdog&) = delete;
  GroupWatchdog& operator=(const GroupWatchdog&) = delete;
  // Kills the group now (if still there) and reaps the watchdog.
  void disarm();

 private:
  int write_fd_ = -1;
  pid_t pid_ = -1;
};

// A UDP and a TCP port on 127.0.0.1 that were free a moment ago; all the
// returned ports are distinct.
std::vector<uint16_t> free_ports(std::size_t udp, std::size_t tcp);

// SHA-256 of the DER of the first certificate in a PEM file, lowercase hex.
std::string cert_sha256_hex(const std::filesystem::path& pem);

}  // namespace sotto::test::detail
