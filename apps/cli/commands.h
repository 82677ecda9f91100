// The `sotto` commands: a table the parser and the help text are made from,
// and one function per command.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "args.h"
#include "session.h"
#include "sotto/app/app.h"
#include "terminal.h"

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

// --- Shared by the human commands (commands.cpp).

inline constexpr Millis kConnectTimeout{45000};
inline constexpr Millis kServerAnswerTimeout{30000};

// An account address as the engine spells it (bare, lowercase), or an error
// in the user's words.
[[nodiscard]] Result<std::string> account_address(std::string_view text);
// "alice@example.org" for "sip:alice@example.org"; other text as it is.
std::string without_sip_scheme(std::string_view address);
// A contact's bare address.
[[nodiscard]] Result<std::string> contact_address(std::string_view text);
// An account of this profile; not_found names the command that adds it.
[[nodiscard]] Result<app::AccountSettings> existing_account(const Context& ctx,
                                                            std::string_view text);
// The password to log in with (prompted, or a line of stdin with
// --password-stdin); none when the profile remembers it.
[[nodiscard]] Result<std::optional<Secret>> login_password(const ParsedArgs& args,
                                                           const app::AccountSettings& account);
std::optional<std::string> for_engine(const std::optional<Secret>& secret);

// Logs `account_text` in (asking for its password if needed) and returns its
// address. On failure it has reported the error and shut the session down.
[[nodiscard]] Result<std::string> online(
    Context& ctx, const ParsedArgs& args, std::string_view account_text,
    app::Availability availability = app::Availability::available, std::string status = {});

// Runs until an engine callback `done` has fired; returns its result.
[[nodiscard]] Result<void> await(
    Session& session, const std::function<void(std::function<void(Result<void>)>)>& start,
    Millis timeout = kServerAnswerTimeout);

// Rows of cells in aligned columns.
void print_table(const std::vector<std::vector<std::string>>& rows, std::string_view indent = "");

// --- The human commands (commands.cpp).
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
int profile_packet_log(Context& ctx, const ParsedArgs& args);
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

// Private conversations (otr_commands.cpp).
int otr_keygen(Context& ctx, const ParsedArgs& args);
int otr_fingerprint(Context& ctx, const ParsedArgs& args);
int otr_trust(Context& ctx, const ParsedArgs& args);
int otr_verify(Context& ctx, const ParsedArgs& args);
int otr_forget(Context& ctx, const ParsedArgs& args);
int otr_policy(Context& ctx, const ParsedArgs& args);
int otr_import(Context& ctx, const ParsedArgs& args);
int chat(Context& ctx, const ParsedArgs& args);

// An OTR fingerprint typed or pasted in any common spelling (spaces, colons,
// either case) as the engine writes it: 5 groups of 8 upper-case hex digits.
std::optional<std::string> parse_otr_fingerprint(std::string_view text);

// OTR events in plain words, the same in `chat` and `listen` (without the
// time stamp, before printable()). `in_chat` picks the hints: chat's slash
// commands, or the `sotto` command lines to type.
class OtrWords {
 public:
  OtrWords(const Context& ctx, bool in_chat) : ctx_(ctx), in_chat_(in_chat) {}

  std::string operator()(const app::PrivacyChanged& e) const;
  std::string operator()(const app::OtrNewFingerprint& e) const;
  std::string operator()(const app::OtrKeyChanged& e) const;
  std::string operator()(const app::SmpProgress& e) const;
  std::string operator()(const app::MessageHeld& e) const;
  std::string operator()(const app::OtrProblem& e) const;
  std::string operator()(const app::OtrKeyState& e) const;

 private:
  std::string hint(std::string_view chat_command, const std::string& command_line) const;

  const Context& ctx_;
  bool in_chat_;
};

// Calls (call_commands.cpp).
int call(Context& ctx, const ParsedArgs& args);
int calls_require_encryption(Context& ctx, const ParsedArgs& args);
int calls_devices(Context& ctx, const ParsedArgs& args);

// --audio pulse|file|null, --audio-in WAV, --audio-out WAV (call, listen, rpc).
const std::vector<OptionSpec>& audio_options();
// Applies the audio options given (if any) with Engine::set_audio_settings
// before a call starts. Returns kExitOk, or the exit status after saying why
// (a usage error for a bad value).
int apply_audio_options(Context& ctx, const ParsedArgs& args);

// What changed in a call, in a few words for the terminal ("ringing",
// "connected (PCMU/8000)", "on hold", "held by them", "ended: busy", the
// encryption and its code to compare, "muted"); empty when nothing worth
// saying changed. Remembers each call until it ends.
class CallPrinter {
 public:
  // `name_calls`: the hints to type name the call ("sas-confirm 7c1e"), for
  // `sotto listen`, where several calls may be going on.
  explicit CallPrinter(bool name_calls = false) : name_calls_(name_calls) {}

  struct News {
    std::string state;               // calling, ringing, connected, hold, ended; or empty
    std::vector<std::string> other;  // encryption and mute, one line each
  };
  News news(const app::CallInfo& call);

  // news() as lines: the state's first, joined with '\n'.
  std::string operator()(const app::CallInfo& call);

  // "key 5 from bob@example.org" (the peer as last seen in operator()).
  std::string operator()(const app::CallDtmf& dtmf) const;

 private:
  // What was last said about a call's encryption.
  struct Said {
    app::CallEncryption encryption = app::CallEncryption::negotiating;
    std::string sas;
    bool verified = false;
    bool mismatch = false;
    bool operator==(const Said&) const = default;
  };
  struct Known {
    app::CallInfo call;
    std::optional<Said> said;
  };

  std::vector<std::string> encryption_news(const app::CallInfo& call, std::optional<Said>& said);
  std::string hint(const std::string& command, const app::CallInfo& call) const;

  bool name_calls_;
  std::map<std::string, Known> known_;
};

// A call command typed in `sotto listen` or `sotto call`: answer, reject,
// busy, hangup, hold, resume, mute, unmute, sas-confirm or sas-reset, each
// with an optional call id (or the start of one), and dtmf DIGITS [ID].
// Without an id, the only call (for answer, reject and busy: the only
// incoming one). `call_id` is the call of `sotto call`: the line is about it
// (answer, reject and busy are no commands there). nullopt when the line is
// no call command.
std::optional<Result<void>> run_call_command(app::Engine& engine, const std::string& line,
                                             const std::string& call_id = {});

// `sotto rpc` (rpc.cpp).
int rpc(Context& ctx, const ParsedArgs& args);

}  // namespace sotto::cli
