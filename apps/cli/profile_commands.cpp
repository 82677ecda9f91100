// The profile and history commands, and unlocking the profile before any
// other command runs.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include "commands.h"
#include "json_events.h"
#include "terminal.h"

namespace sotto::cli {
namespace {

constexpr std::size_t kPage = 50;
constexpr const char* kTimeFormat = "%Y-%m-%d %H:%M";

int print_json(const nlohmann::json& value) {
  std::cout << dump_line(value) << '\n';
  return kExitOk;
}

Result<std::size_t> limit_option(const ParsedArgs& args, std::size_t fallback) {
  auto text = args.value("limit");
  if (!text) return fallback;
  auto value = parse_number<std::size_t>(*text, 1, std::numeric_limits<std::size_t>::max());
  if (!value) return fail(Errc::invalid_argument, "--limit needs a positive number");
  return *value;
}

std::string protection_text(app::ProfileProtection protection) {
  switch (protection) {
    case app::ProfileProtection::none:
      return "not created yet";
    case app::ProfileProtection::master_password:
      return "the key is locked by your master password";
    case app::ProfileProtection::keyring:
      return "the key is in your desktop keyring (anyone who can use your desktop session "
             "can open it)";
    case app::ProfileProtection::key_file:
      return "the key is in a key file next to it (this protects a copied database, not "
             "against someone who can use your account)";
  }
  return "?";
}

void print_message(const app::HistoryMessage& m, bool with_peer) {
  std::cout << '#' << m.row << "  [" << local_time(m.time, kTimeFormat) << "] ";
  if (m.outgoing) {
    std::cout << "me";
    if (with_peer) std::cout << " -> " << printable_line(m.peer);
  } else {
    std::cout << printable_line(m.peer);
    if (with_peer) std::cout << " -> " << printable_line(m.account);
  }
  std::cout << ':';
  if (m.encrypted) std::cout << " [private]";
  if (m.state && *m.state != app::DeliveryState::sent) {
    std::cout << " (" << app::to_string(*m.state) << ')';
  }
  std::cout << "\n  " << printable(m.body, "  ") << '\n';
}

// The folder that lists the processes using a profile (listen, status, rpc),
// so that `profile lock` can end them.
std::filesystem::path sessions_dir(const app::Engine& engine) {
  return engine.profile_dir() / "sessions";
}

// Runs an engine call that answers through a callback (the profile's key
// work runs on a thread of its own) and waits for its answer.
Result<void> await_profile(Context& ctx,
                           const std::function<void(std::function<void(Result<void>)>)>& start) {
  std::optional<Result<void>> outcome;
  start([&outcome](Result<void> result) { outcome = std::move(result); });
  const Wait waited = ctx.session.run_until([&] { return outcome.has_value(); }, Millis(120000),
                                            /*stop_on_interrupt=*/false);
  if (!outcome) {
    return fail(waited == Wait::timed_out ? Errc::timeout : Errc::cancelled,
                "the profile's key could not be read in time");
  }
  return *outcome;
}

bool is_sotto(pid_t pid) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return false;
  auto other = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return !ec && other == self;
}

}  // namespace

// ---------------------------------------------------------------------------
// Before a command: the profile must exist and be unlocked.

int prepare_profile(Context& ctx, const ParsedArgs& args) {
  const std::string_view words = ctx.command.words;
  // These work on the profile as it is, locked or not.
  if (words == "profile passwd" || words == "profile info" || words == "profile lock") {
    return kExitOk;
  }
  app::Engine& engine = ctx.engine;
  if (engine.protection() == app::ProfileProtection::none) {
    auto created = await_profile(
        ctx, [&](auto done) { engine.create_profile(std::nullopt, std::move(done)); });
    if (!created) return report(created.error());
    std::cerr << "sotto: created a new profile in " << engine.profile_dir().string() << ";\n"
              << "       it is encrypted; " << protection_text(engine.protection()) << ".\n"
              << "       To protect it with a master password: " << command_prefix(ctx)
              << " profile passwd\n";
    return kExitOk;
  }
  if (engine.unlocked()) return kExitOk;
  // `sotto rpc` starts locked: the program on the other end calls profile.unlock.
  if (words == "rpc") return kExitOk;
  auto secret = args.has("password-stdin")
                    ? read_stdin_secret("the master password")
                    : prompt_secret("Master password for the profile \"" + ctx.profile + "\": ");
  if (!secret) return report(secret.error());
  auto unlocked =
      await_profile(ctx, [&](auto done) { engine.unlock(secret->value, std::move(done)); });
  if (!unlocked) return report(unlocked.error());
  return kExitOk;
}

SessionMarker::SessionMarker(const app::Engine& engine)
    : file_(sessions_dir(engine) / std::to_string(::getpid())) {
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  ::chmod(file_.parent_path().c_str(), 0700);
  // Like every file in the profile: 0600. It holds nothing but the name.
  const int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
}

SessionMarker::~SessionMarker() {
  std::error_code ec;
  std::filesystem::remove(file_, ec);
}

// ---------------------------------------------------------------------------
// profile

int profile_info(Context& ctx, const ParsedArgs& args) {
  auto info = ctx.engine.profile_info();
  if (!info) return report(info.error());
  if (args.has("json")) return print_json(profile_json(*info));
  std::cout << "Profile:   " << ctx.profile << " (" << info->dir.string() << ")\n"
            << "Storage:   "
            << (info->protection == app::ProfileProtection::none ? "" : "encrypted; ")
            << protection_text(info->protection) << '\n';
  if (info->protection == app::ProfileProtection::none) return kExitOk;
  if (!info->unlocked) {
    std::cout << "State:     locked (the other commands ask for the master password)\n";
    return kExitOk;
  }
  std::cout << "History:   " << (info->log_history ? "logged (encrypted)" : "not logged") << '\n'
            << "Packets:   "
            << (ctx.engine.packet_logging()
                    ? "logged in PLAIN TEXT to " + ctx.engine.packet_log_dir().string()
                    : std::string("not logged"))
            << '\n'
            << "Accounts:  " << info->accounts << '\n'
            << "Messages:  " << info->messages << '\n'
            << "Calls:     " << info->calls << '\n'
            << "On disk:   " << (info->bytes_on_disk + 1023) / 1024 << " KiB\n";
  return kExitOk;
}

int profile_passwd(Context& ctx, const ParsedArgs& args) {
  app::Engine& engine = ctx.engine;
  const bool remove = args.has("remove");
  const bool from_stdin = args.has("password-stdin");
  const app::ProfileProtection protection = engine.protection();
  const bool has_password = protection == app::ProfileProtection::master_password;
  if (remove && !has_password) {
    std::cerr << "sotto: this profile has no master password to remove\n";
    return kExitError;
  }
  std::optional<Secret> current;
  if (has_password) {
    auto secret = from_stdin ? read_stdin_secret("the current master password")
                             : prompt_secret("Current master password: ");
    if (!secret) return report(secret.error());
    current = std::move(*secret);
  }
  std::optional<Secret> next;
  if (!remove) {
    Result<Secret> chosen = fail(Errc::cancelled, "");
    if (from_stdin) {
      chosen = read_stdin_secret("the new master password");
    } else {
      chosen = prompt_secret("New master password: ");
      if (chosen) {
        auto again = prompt_secret("Type it again: ");
        if (!again) return report(again.error());
        if (again->value != chosen->value) {
          std::cerr << "sotto: the two passwords differ; nothing was changed\n";
          return kExitError;
        }
      }
    }
    if (!chosen) return report(chosen.error());
    next = std::move(*chosen);
  }
  auto as_text = [](const std::optional<Secret>& s) -> std::optional<std::string> {
    if (!s) return std::nullopt;
    return s->value;
  };
  Result<void> done = await_profile(ctx, [&](auto answer) {
    if (protection == app::ProfileProtection::none) {
      engine.create_profile(as_text(next), std::move(answer));
    } else {
      engine.change_master_password(as_text(current), as_text(next), std::move(answer));
    }
  });
  if (!done) return report(done.error());
  if (remove) {
    std::cout << "The master password is removed. The profile stays encrypted: "
              << protection_text(engine.protection()) << ".\n";
  } else {
    std::cout << "The master password is set. Sotto asks for it whenever it opens this "
                 "profile;\nwithout it nobody can read the profile, and nobody can recover it "
                 "for you.\n";
  }
  return kExitOk;
}

int profile_lock(Context& ctx, const ParsedArgs&) {
  const auto dir = sessions_dir(ctx.engine);
  std::vector<pid_t> ended;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    auto parsed = parse_number<pid_t>(name, 2, std::numeric_limits<pid_t>::max());
    if (!parsed) continue;
    const pid_t pid = *parsed;
    if (pid == ::getpid() || !is_sotto(pid) || ::kill(pid, SIGTERM) != 0) {
      std::filesystem::remove(entry.path(), ec);  // a stale marker
      continue;
    }
    ended.push_back(pid);
  }
  // They go offline (acknowledging what they can within their shutdown limit)
  // and wipe the key as they exit.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (pid_t pid : ended) {
    while (::kill(pid, 0) == 0 && is_sotto(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::cout << (ended.empty() ? "No sotto session had this profile open; it is locked.\n"
                              : "Locked: " + std::to_string(ended.size()) +
                                    " sotto session(s) went offline and forgot the key.\n");
  return kExitOk;
}

int profile_packet_log(Context& ctx, const ParsedArgs& args) {
  app::Engine& engine = ctx.engine;
  const std::string folder = engine.packet_log_dir().string();
  if (args.positional.empty()) {
    if (engine.packet_logging()) {
      std::cout << "The packet log is on: every account's traffic is written, in plain text, to\n"
                << "  " << folder << "/\n";
    } else {
      std::cout << "The packet log is off. When on, it writes to\n  " << folder << "/\n";
    }
    return kExitOk;
  }
  const std::string& choice = args.positional[0];
  if (choice != "on" && choice != "off") return usage_error(ctx, "say on or off");
  const bool on = choice == "on";
  if (auto set = engine.set_packet_logging(on); !set) return report(set.error());
  if (on) {
    std::cout << "The packet log is on. Every account's XMPP traffic is written to\n"
              << "  " << folder << "/ACCOUNT.log\n"
              << "in PLAIN TEXT, outside the profile's encryption: it holds your and your\n"
              << "contacts' addresses, presence, and every message that is not private (OTR).\n"
              << "Logins and passwords are left out. Turn it off when you are done: "
              << command_prefix(ctx) << " profile packet-log off\n"
              << "and delete the folder when you no longer need it.\n";
  } else {
    std::cout << "The packet log is off; nothing more is written.\n"
              << "What is already in " << folder << "/ stays until you delete it.\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// history

int history_list(Context& ctx, const ParsedArgs& args) {
  auto list = ctx.engine.conversations();
  if (!list) return report(list.error());
  if (args.has("json")) return print_json(json_array(*list, conversation_json));
  if (list->empty()) {
    std::cout << (ctx.engine.log_history() ? "No history yet.\n"
                                           : "No history (logging is off).\n");
    return kExitOk;
  }
  for (const auto& c : *list) {
    std::cout << local_time(c.last, kTimeFormat) << "  " << printable_line(c.account) << "  "
              << printable_line(c.peer) << "  (" << c.messages
              << (c.messages == 1 ? " message)\n" : " messages)\n");
  }
  return kExitOk;
}

int history_show(Context& ctx, const ParsedArgs& args) {
  const std::string& account = args.positional[0];
  const std::string& peer = args.positional[1];
  auto limit = limit_option(args, kPage);
  if (!limit) return usage_error(ctx, limit.error().message);
  std::optional<std::int64_t> before;
  if (auto text = args.value("before")) {
    // As `history show` prints it (#N) or without the '#'.
    std::string_view number = *text;
    if (number.starts_with('#')) number.remove_prefix(1);
    before = parse_number<std::int64_t>(number, 1, std::numeric_limits<std::int64_t>::max());
    if (!before) return usage_error(ctx, "--before needs a message number (#N)");
  }
  auto page = ctx.engine.history(account, peer, before, *limit);
  if (!page) return report(page.error());
  if (args.has("json")) return print_json(json_array(*page, history_json));
  if (page->empty()) {
    std::cout << "No messages" << (before ? " before that one" : "") << ".\n";
    return kExitOk;
  }
  if (page->size() == *limit) {
    std::cout << "(older: " << command_prefix(ctx) << " history show " << account << ' ' << peer
              << " --before " << page->front().row << ")\n";
  }
  for (const auto& m : *page) print_message(m, false);
  return kExitOk;
}

int history_search(Context& ctx, const ParsedArgs& args) {
  std::string words;
  for (const auto& word : args.positional) words += (words.empty() ? "" : " ") + word;
  auto limit = limit_option(args, kPage);
  if (!limit) return usage_error(ctx, limit.error().message);
  auto hits = ctx.engine.search_history(words, *limit);
  if (!hits) return report(hits.error());
  if (args.has("json")) return print_json(json_array(*hits, history_json));
  if (hits->empty()) std::cout << "Nothing found.\n";
  for (const auto& m : *hits) print_message(m, true);
  return kExitOk;
}

int history_delete(Context& ctx, const ParsedArgs& args) {
  const bool all = args.has("all");
  const bool calls = args.has("calls");
  const std::size_t targets = (all ? 1 : 0) + (calls ? 1 : 0) + (args.positional.empty() ? 0 : 1);
  if (targets != 1 || (!args.positional.empty() && args.positional.size() != 2)) {
    return usage_error(ctx, "name one conversation (ACCOUNT CONTACT), or --all, or --calls");
  }
  Result<std::int64_t> deleted =
      calls ? ctx.engine.delete_call_history()
      : all ? ctx.engine.delete_all_history()
            : ctx.engine.delete_history(args.positional[0], args.positional[1]);
  if (!deleted) return report(deleted.error());
  std::cout << "Deleted " << *deleted << (calls ? " call(s)" : " message(s)")
            << "; the text is gone from the profile's free space too.\n";
  return kExitOk;
}

int history_calls(Context& ctx, const ParsedArgs& args) {
  auto limit = limit_option(args, kPage);
  if (!limit) return usage_error(ctx, limit.error().message);
  auto calls = ctx.engine.call_history(*limit);
  if (!calls) return report(calls.error());
  if (args.has("json")) return print_json(json_array(*calls, call_json));
  if (calls->empty()) std::cout << "No calls.\n";
  for (const auto& c : *calls) {
    std::cout << local_time(c.start, kTimeFormat) << "  " << (c.outgoing ? "to   " : "from ")
              << printable_line(c.peer) << "  " << printable_line(c.reason);
    if (c.end) {
      const auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(*c.end - c.start).count();
      std::cout << "  " << seconds / 60 << ':' << (seconds % 60 < 10 ? "0" : "") << seconds % 60;
    }
    std::cout << (c.secured ? "  [private]" : "  [not private]") << '\n';
  }
  return kExitOk;
}

int history_log(Context& ctx, const ParsedArgs& args) {
  const std::string& choice = args.positional[0];
  if (choice != "on" && choice != "off") return usage_error(ctx, "say on or off");
  const bool on = choice == "on";
  if (args.positional.size() == 2) {
    return usage_error(ctx, "name the account and the contact, or neither");
  }
  if (args.positional.size() == 3) {
    const std::string& account = args.positional[1];
    const std::string& peer = args.positional[2];
    if (auto set = ctx.engine.set_contact_log_history(account, peer, on); !set) {
      return report(set.error());
    }
    std::cout << "History with " << printable_line(peer) << " is "
              << (on ? (ctx.engine.log_history() ? "logged (encrypted)."
                                                 : "logged once logging is on again.")
                     : "not logged; nothing of it touches the disk.")
              << '\n';
    return kExitOk;
  }
  if (auto set = ctx.engine.set_log_history(on); !set) return report(set.error());
  std::cout << (on ? "Chat history is logged (encrypted).\n"
                   : "Chat history is not logged; no conversation touches the disk.\n"
                     "What is already there stays until you delete it: "
                     "sotto history delete --all\n");
  return kExitOk;
}

}  // namespace sotto::cli
