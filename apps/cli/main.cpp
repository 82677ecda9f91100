// `sotto`: the command table, global options, help, and dispatch.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "commands.h"
#include "sotto/app/app.h"
#include "sotto/base/base.h"

#ifndef SOTTO_VERSION
#define SOTTO_VERSION "unknown"
#endif

namespace sotto::cli {
namespace {

std::vector<OptionSpec> server_options(std::vector<OptionSpec> more) {
  std::vector<OptionSpec> options{
      {"host", true}, {"port", true}, {"direct-tls"}, {"pin", true}, {"remember"}};
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

constexpr std::size_t kMany = std::numeric_limits<std::size_t>::max();

std::vector<OptionSpec> with_audio(std::vector<OptionSpec> options) {
  options.insert(options.end(), audio_options().begin(), audio_options().end());
  return options;
}

const Command* find_command(std::string_view words) {
  for (const auto& command : commands()) {
    if (command.words == words) return &command;
  }
  return nullptr;
}

bool is_group(std::string_view word) {
  return std::any_of(commands().begin(), commands().end(), [&](const Command& c) {
    return c.words.starts_with(std::string(word) + " ");
  });
}

std::string usage_line(const Command& command) {
  std::string line = "sotto " + std::string(command.words);
  if (!command.usage.empty()) line += " " + std::string(command.usage);
  return line;
}

void print_help(std::ostream& out) {
  out << "Usage: sotto [--profile NAME] [-v|--verbose] [--debug] COMMAND [ARGS]\n"
         "\n"
         "Sotto is a private messenger. Each command below connects what it needs,\n"
         "does its work, and disconnects; `listen`, `status`, `chat`, `call` and `rpc`\n"
         "stay until Ctrl-C (or the end of standard input for chat and rpc, the end of\n"
         "the call for call).\n";
  std::string_view group;
  for (const auto& command : commands()) {
    std::string_view first = command.words.substr(0, command.words.find(' '));
    std::string_view heading = is_group(first) ? first : std::string_view("other");
    if (heading != group) {
      group = heading;
      out << '\n'
          << (heading == "account"   ? "Accounts"
              : heading == "contact" ? "Contacts"
              : heading == "profile" ? "The profile (encrypted, with your history)"
              : heading == "history" ? "History"
              : heading == "otr"     ? "Private conversations (OTR)"
              : heading == "calls"   ? "Calls (encryption and audio)"
                                     : "Messages, calls and events")
          << ":\n";
    }
    out << "  " << usage_line(command) << "\n      " << command.summary << '\n';
  }
  out << "\n"
         "Global options:\n"
         "  --profile NAME   use the profile NAME (default \"default\"), kept in\n"
         "                   $XDG_DATA_HOME/sotto/NAME\n"
         "  -v, --verbose    log what happens to stderr\n"
         "  --debug          log in detail to stderr (never passwords or messages)\n"
         "  --password-stdin read passwords from standard input, one per line: the\n"
         "                   master password first (when the profile has one), then\n"
         "                   the account's\n"
         "  --version        print the version\n"
         "\n"
         "Passwords are asked for on the terminal unless the account remembers one,\n"
         "or --password-stdin reads them from the first line(s) of standard input.\n"
         "Exit status: 0 done, 1 failed (the reason is on stderr), 2 bad usage.\n";
}

int usage_error(const Command* command, std::string_view message) {
  std::cerr << "sotto: " << message << '\n';
  if (command != nullptr) {
    std::cerr << "Usage: " << usage_line(*command) << "\nTry 'sotto " << command->words
              << " --help'.\n";
  } else {
    std::cerr << "Try 'sotto --help'.\n";
  }
  return kExitUsage;
}

bool valid_profile(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// The first (up to two) words that are not options: the command's name.
std::vector<std::string> command_words(const std::vector<std::string>& args) {
  std::vector<std::string> words;
  for (std::size_t i = 0; i < args.size() && words.size() < 2; ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg == "--profile") {
      ++i;
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') continue;
    words.push_back(arg);
    if (!is_group(words.front())) break;
  }
  return words;
}

int run(const std::vector<std::string>& args) {
  const auto has = [&](std::string_view flag) {
    return std::find(args.begin(), args.end(), flag) != args.end();
  };
  std::vector<std::string> words = command_words(args);
  if (words.empty() || words.front() == "help") {
    if (has("--version")) {
      std::cout << "sotto " << SOTTO_VERSION << '\n';
      return kExitOk;
    }
    bool asked = !words.empty() || has("--help") || has("-h");
    print_help(asked ? std::cout : std::cerr);
    return asked ? kExitOk : kExitUsage;
  }

  std::string name = words.front();
  if (words.size() > 1) name += " " + words[1];
  const Command* command = find_command(name);
  if (command == nullptr) {
    if (is_group(words.front())) {
      std::string choices;
      for (const auto& c : commands()) {
        if (c.words.starts_with(words.front() + " ")) {
          choices +=
              (choices.empty() ? "" : ", ") + std::string(c.words.substr(words.front().size() + 1));
        }
      }
      return usage_error(
          nullptr, words.size() > 1
                       ? "unknown command \"" + name + "\"; " + words.front() + " takes: " + choices
                       : "\"" + words.front() + "\" needs one of: " + choices);
    }
    return usage_error(nullptr, "unknown command \"" + words.front() + "\"");
  }

  std::vector<OptionSpec> specs = global_options();
  specs.insert(specs.end(), command->options.begin(), command->options.end());
  auto parsed = parse_args(args, specs);
  if (!parsed) return usage_error(command, parsed.error().message);
  std::size_t word_count = std::count(command->words.begin(), command->words.end(), ' ') + 1;
  parsed->positional.erase(parsed->positional.begin(),
                           parsed->positional.begin() + static_cast<std::ptrdiff_t>(word_count));
  if (parsed->has("help")) {
    std::cout << "Usage: " << usage_line(*command) << "\n  " << command->summary << '\n';
    return kExitOk;
  }
  if (parsed->positional.size() < command->min_args) {
    return usage_error(command, "missing arguments");
  }
  if (parsed->positional.size() > command->max_args) {
    return usage_error(command, "too many arguments");
  }

  std::string profile = parsed->value("profile").value_or("default");
  if (!valid_profile(profile)) {
    return usage_error(command, "a profile name is letters, digits, '.', '_' and '-'");
  }
  // --debug / --verbose, else SOTTO_LOG (say, for the processes tests start),
  // else warnings only.
  if (parsed->has("debug"))
    log::set_level(log::Level::debug);
  else if (parsed->has("verbose"))
    log::set_level(log::Level::info);
  else if (std::getenv("SOTTO_LOG") == nullptr)
    log::set_level(log::Level::warn);

  asio::io_context io;
  app::Engine engine(io, profile);
  if (auto opened = engine.open(); !opened) {
    std::cerr << "sotto: " << opened.error().message << '\n';
    return kExitError;
  }
  if (command->words == "chat" || command->words == "call" || command->words == "listen") {
    // Its lines are read from fd 0 with read(2) after the passwords were
    // read through std::cin: no stdio buffer may swallow them in between.
    std::setvbuf(stdin, nullptr, _IONBF, 0);
  }
  Session session(io, engine);
  Context ctx{profile, engine, session, *command};
  if (int ready = prepare_profile(ctx, *parsed); ready != kExitOk) return ready;
  std::optional<SessionMarker> marker;
  const bool stays = command->words == "listen" || command->words == "status" ||
                     command->words == "chat" || command->words == "rpc" ||
                     command->words == "call";
  if (stays) marker.emplace(engine);
  // A quick command would quit before a new OTR key is ready and lose it;
  // `send` keeps the default, as it may have to go private first.
  if ((!stays && command->words != "send") || command->words == "call")
    engine.set_otr_keys_on_connect(false);
  return command->run(ctx, *parsed);
}

}  // namespace

const std::vector<OptionSpec>& global_options() {
  static const std::vector<OptionSpec> options{{"profile", true}, {"verbose", false, 'v'},
                                               {"debug"},         {"help", false, 'h'},
                                               {"version"},       {"password-stdin"}};
  return options;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table{
      {"account add",
       "ADDRESS [--sip [--transport udp|tcp|tls] [--auth-user U]] [--host H] [--port P] "
       "[--direct-tls] [--pin SHA256] [--remember] [--no-verify] [--password-stdin]",
       "Add an account to this profile after checking that it can log in (XMPP, or with\n"
       "      --sip a SIP account user@domain; --host is then the outbound proxy).",
       server_options({{"no-verify"}, {"sip"}, {"transport", true}, {"auth-user", true}}), 1, 1,
       account_add},
      {"account list", "", "List the accounts of this profile.", {}, 0, 0, account_list},
      {"account remove",
       "ADDRESS",
       "Remove an account from this profile (not from its server).",
       {},
       1,
       1,
       account_remove},
      {"account register",
       "ADDRESS [--host H] [--port P] [--direct-tls] [--pin SHA256] [--remember] "
       "[--password-stdin]",
       "Create a new account on its server (in-band registration) and add it.", server_options({}),
       1, 1, account_register},
      {"account passwd",
       "ADDRESS [--password-stdin]",
       "Change an account's password on its server. With --password-stdin: the current "
       "password\n      (unless remembered), then the new one, one per line.",
       {},
       1,
       1,
       account_passwd},
      {"account pin",
       "ADDRESS SHA256",
       "Trust exactly this server certificate for the account from now on.",
       {},
       2,
       2,
       account_pin},
      {"contact add",
       "ACCOUNT ADDRESS [--name N] [--group G]... [--password-stdin]",
       "Add a contact and ask to see their presence.",
       {{"name", true}, {"group", true}},
       2,
       2,
       contact_add},
      {"contact list",
       "ACCOUNT [--password-stdin]",
       "Show the contacts by group, with subscription and presence.",
       {},
       1,
       1,
       contact_list},
      {"contact remove",
       "ACCOUNT ADDRESS [--password-stdin]",
       "Remove a contact.",
       {},
       2,
       2,
       contact_remove},
      {"contact authorize",
       "ACCOUNT ADDRESS [--password-stdin]",
       "Let someone who asked see your presence.",
       {},
       2,
       2,
       contact_authorize},
      {"contact deny",
       "ACCOUNT ADDRESS [--password-stdin]",
       "Refuse someone's request to see your presence.",
       {},
       2,
       2,
       contact_deny},
      {"contact requests",
       "ACCOUNT [--password-stdin]",
       "List who is waiting for you to authorize them.",
       {},
       1,
       1,
       contact_requests},
      {"profile info",
       "[--json]",
       "Show where the profile is, how its key is protected, and what it holds.",
       {{"json"}},
       0,
       0,
       profile_info},
      {"profile passwd",
       "[--remove] [--password-stdin]",
       "Set, change or (--remove) remove the master password. With --password-stdin: the\n"
       "      current one (if any), then the new one, one per line.",
       {{"remove"}},
       0,
       0,
       profile_passwd},
      {"profile lock",
       "",
       "End every sotto session using this profile (listen, status, rpc): they go\n"
       "      offline and wipe the key from memory.",
       {},
       0,
       0,
       profile_lock},
      {"profile packet-log",
       "[on|off]",
       "Show, or turn on or off, the packet log: every account's XMPP traffic, in\n"
       "      plain text, for debugging (off by default; logins and passwords left out).",
       {},
       0,
       1,
       profile_packet_log},
      {"history list",
       "[--json]",
       "List the conversations in history, the most recent first.",
       {{"json"}},
       0,
       0,
       history_list},
      {"history show",
       "ACCOUNT CONTACT [--limit N] [--before #N] [--json]",
       "Show a conversation, a page at a time (the latest 50 by default).",
       {{"limit", true}, {"before", true}, {"json"}},
       2,
       2,
       history_show},
      {"history search",
       "WORDS... [--limit N] [--json]",
       "Find messages with all these words (or words starting with them).",
       {{"limit", true}, {"json"}},
       1,
       kMany,
       history_search},
      {"history delete",
       "ACCOUNT CONTACT | --all | --calls",
       "Delete a conversation, all chat history, or the call list, for good.",
       {{"all"}, {"calls"}},
       0,
       2,
       history_delete},
      {"history calls",
       "[--limit N] [--json]",
       "List past calls, the most recent first.",
       {{"limit", true}, {"json"}},
       0,
       0,
       history_calls},
      {"history log",
       "on|off [ACCOUNT CONTACT]",
       "Turn chat history logging on or off, for everyone or for one contact.",
       {},
       1,
       3,
       history_log},
      {"otr keygen",
       "ACCOUNT [--replace]",
       "Make the account's key for private conversations and print its fingerprint\n"
       "      (an account without one gets it when it first goes online).",
       {{"replace"}},
       1,
       1,
       otr_keygen},
      {"otr fingerprint",
       "[ACCOUNT]",
       "Show your fingerprint (for every account when none is named), to read to your contacts.",
       {},
       0,
       1,
       otr_fingerprint},
      {"otr trust",
       "[ACCOUNT] [--json]",
       "List the fingerprints your contacts used, and whether you verified them.",
       {{"json"}},
       0,
       1,
       otr_trust},
      {"otr verify",
       "ACCOUNT CONTACT FINGERPRINT [--no]",
       "Mark a contact's fingerprint verified once you compared it with them over another\n"
       "      channel (--no: not verified).",
       {{"no"}},
       3,
       7,
       otr_verify},
      {"otr forget",
       "ACCOUNT CONTACT FINGERPRINT",
       "Forget a contact's fingerprint (not while a private conversation uses it).",
       {},
       3,
       7,
       otr_forget},
      {"otr policy",
       "[ACCOUNT CONTACT] [manual|opportunistic|always|require|default]",
       "Show or set when conversations are made private, for everyone or for one contact\n"
       "      (default: the contact follows the global policy again).",
       {},
       0,
       3,
       otr_policy},
      {"otr import",
       "ACCOUNT [--keys FILE] [--fingerprints FILE]",
       "Import the key and the known fingerprints from Pidgin's otr.private_key and\n"
       "      otr.fingerprints (without options: the ones in ~/.purple).",
       {{"keys", true}, {"fingerprints", true}},
       1,
       1,
       otr_import},
      {"calls require-encryption",
       "[on|off]",
       "Show, or turn on or off, \"require encryption\": a call that cannot be encrypted\n"
       "      is ended instead of going on in the clear (off by default).",
       {},
       0,
       1,
       calls_require_encryption},
      {"calls devices",
       "",
       "List the microphones and speakers (PulseAudio) and what calls use.",
       {},
       0,
       0,
       calls_devices},
      {"status",
       "ACCOUNT available|chat|away|xa|dnd|offline [TEXT...] [--password-stdin]",
       "Go online with this presence and stay until Ctrl-C.",
       {},
       2,
       kMany,
       status},
      {"send",
       "ACCOUNT ADDRESS TEXT...|- [--wait-delivered] [--timeout S] [--password-stdin]",
       "Send a message (\"-\": read it from stdin); prints its id once the server has it.",
       {{"wait-delivered"}, {"timeout", true}},
       3,
       kMany,
       send},
      {"listen",
       "[ACCOUNT...] [--json] [--audio pulse|file|null] [--audio-in WAV] [--audio-out WAV] "
       "[--password-stdin]",
       "Go online (all accounts by default) and print every event until Ctrl-C. Calls are\n"
       "      handled by typing answer, reject, busy, hangup, hold, resume, mute, unmute,\n"
       "      sas-confirm or sas-reset [CALL-ID], or dtmf DIGITS [CALL-ID].",
       with_audio({{"json"}}), 0, kMany, listen},
      {"call",
       "ACCOUNT ADDRESS [--audio pulse|file|null] [--audio-in WAV] [--audio-out WAV] "
       "[--password-stdin]",
       "Call someone from a SIP account, encrypted with ZRTP, and stay until the call ends.\n"
       "      Compare the code it prints with your partner and type sas-confirm; type mute,\n"
       "      unmute, hold, resume, dtmf DIGITS or hangup. --audio file with --audio-in and\n"
       "      --audio-out plays a WAV file and records what you hear (docs/calls.md).",
       with_audio({}), 2, 2, call},
      {"chat",
       "ACCOUNT CONTACT [--password-stdin]",
       "Chat with a contact, a line at a time, privately with OTR; /help lists the\n"
       "      commands inside, /quit or Ctrl-D leaves.",
       {},
       2,
       2,
       chat},
      {"rpc", "[--audio pulse|file|null] [--audio-in WAV] [--audio-out WAV]",
       "Serve JSON-RPC 2.0 on stdin/stdout, one object per line (see docs/rpc.md).", with_audio({}),
       0, 0, rpc},
  };
  return table;
}

std::string command_prefix(const Context& ctx) {
  return ctx.profile == "default" ? "sotto" : "sotto --profile " + ctx.profile;
}

int usage_error(const Context& ctx, std::string_view message) {
  return usage_error(&ctx.command, message);
}

}  // namespace sotto::cli

int main(int argc, char** argv) {
  // A reader that goes away must give EPIPE, not kill us mid-goodbye.
  std::signal(SIGPIPE, SIG_IGN);
  return sotto::cli::run(std::vector<std::string>(argv + 1, argv + argc));
}
