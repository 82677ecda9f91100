// The `sotto` commands: a table the parser and the help text are made from,
// and one function per command.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "args.h"
#include "session.h"
#include "sotto/app/app.h"

namespace sotto::cli {

enum Exit : int { kExitOk = 0, kExitError = 1, kExitUsage = 2 };

struct Command;

struct Context {
  std::string profile;
  app::Engine& engine;
  Session& session;
  const Command& command;
};

struct Command {
  std::string_view words;  // "account add"
  std::string_view usage;  // what follows the words in a usage line
  std::string_view summary;
  std::vector<OptionSpec> options;
  std::size_t min_args = 0;
  std::size_t max_args = std::numeric_limits<std::size_t>::max();
  int (*run)(Context&, const ParsedArgs&) = nullptr;
};

// Every command, in the order the help lists them.
const std::vector<Command>& commands();

// Options every command takes.
const std::vector<OptionSpec>& global_options();

// "sotto" or "sotto --profile NAME": the start of a command line to suggest.
std::string command_prefix(const Context& ctx);

// Prints "sotto: " and the error's message (made printable) to stderr;
// returns kExitError.
int report(const Error& error);

// The time in the local zone, strftime-formatted.
std::string local_time(std::chrono::system_clock::time_point time, const char* format);

// Prints "sotto: message" and a pointer to the command's help; returns kExitUsage.
int usage_error(const Context& ctx, std::string_view message);

// The human commands (commands.cpp).
int account_add(Context& ctx, const ParsedArgs& args);
int account_list(Context& ctx, const ParsedArgs& args);
int account_remove(Context& ctx, const ParsedArgs& args);
int account_register(Context& ctx, const ParsedArgs& args);
int account_passwd(Context& ctx, const ParsedArgs& args);
int account_pin(Context& ctx, const ParsedArgs& args);
int contact_add(Context& ctx, const ParsedArgs& args);
int contact_list(Context& ctx, const ParsedArgs& args);
int contact_remove(Context& ctx, const ParsedArgs& args);
int contact_authorize(Context& ctx, const ParsedArgs& args);
int contact_deny(Context& ctx, const ParsedArgs& args);
int contact_requests(Context& ctx, const ParsedArgs& args);
int status(Context& ctx, const ParsedArgs& args);
int send(Context& ctx, const ParsedArgs& args);
int listen(Context& ctx, const ParsedArgs& args);

// The profile and history (profile_commands.cpp).
int profile_info(Context& ctx, const ParsedArgs& args);
int profile_passwd(Context& ctx, const ParsedArgs& args);
int profile_lock(Context& ctx, const ParsedArgs& args);
int history_list(Context& ctx, const ParsedArgs& args);
int history_show(Context& ctx, const ParsedArgs& args);
int history_search(Context& ctx, const ParsedArgs& args);
int history_delete(Context& ctx, const ParsedArgs& args);
int history_calls(Context& ctx, const ParsedArgs& args);
int history_log(Context& ctx, const ParsedArgs& args);

// Before the command runs: creates a new profile (without a master password,
// saying so on stderr) or asks for the master password and unlocks it.
// Returns kExitOk or the exit status to end with.
int prepare_profile(Context& ctx, const ParsedArgs& args);

// While it lives, marks this process as one that keeps the profile open, so
// that `sotto profile lock` can end it.
class SessionMarker {
 public:
  explicit SessionMarker(const app::Engine& engine);
  ~SessionMarker();
  SessionMarker(const SessionMarker&) = delete;
  SessionMarker& operator=(const SessionMarker&) = delete;

 private:
  std::filesystem::path file_;
};

// `sotto rpc` (rpc.cpp).
int rpc(Context& ctx, const ParsedArgs& args);

}  // namespace sotto::cli
