// Private conversations (OTR): keys, fingerprints and trust, policies, the
// import from Pidgin, and `sotto chat`, a line-based chat that shows the
// padlock as it is.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include <asio/post.hpp>

#include "commands.h"
#include "json_events.h"
#include "stdin_reader.h"
#include "terminal.h"

namespace sotto::cli {
namespace {

constexpr Millis kKeygenTimeout{600000};
constexpr std::size_t kMaxChatLine = 256 * 1024;
constexpr const char* kKeyChangedBanner =
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!";

std::string quoted(const std::string& fingerprint) { return "\"" + fingerprint + "\""; }

std::string privacy_text(app::Privacy privacy) {
  switch (privacy) {
    case app::Privacy::not_private:
      return "not private";
    case app::Privacy::unverified:
      return "private, unverified";
    case app::Privacy::verified:
      return "private and verified";
    case app::Privacy::finished:
      return "the contact ended the private conversation";
  }
  return "?";
}

bool is_private(app::Privacy privacy) {
  return privacy == app::Privacy::unverified || privacy == app::Privacy::verified;
}

// "OTR v3, instance 1A2B3C4D, laptop": which of the contact's clients.
std::string session_text(int version, std::uint32_t instance, const std::string& resource) {
  if (version == 0) return {};
  std::string text = "OTR v" + std::to_string(version);
  if (instance != 0) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08X", static_cast<unsigned>(instance));
    text += std::string(", instance ") + hex;
  }
  if (!resource.empty()) text += ", " + resource;
  return text;
}

std::string policy_meaning(app::OtrPolicy policy) {
  switch (policy) {
    case app::OtrPolicy::manual:
      return "private only when you or the contact start it";
    case app::OtrPolicy::opportunistic:
      return "private as soon as the contact shows that it speaks OTR";
    case app::OtrPolicy::always:
      return "asks every contact for a private conversation before the first message";
    case app::OtrPolicy::require:
      return "never sends a message in plain text: holds it until the conversation is private";
  }
  return "?";
}

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// The fingerprint given as one argument or pasted as five (its groups).
std::optional<std::string> fingerprint_argument(const ParsedArgs& args, std::size_t first) {
  std::string text;
  for (std::size_t i = first; i < args.positional.size(); ++i) text += args.positional[i];
  return parse_otr_fingerprint(text);
}

}  // namespace

std::optional<std::string> parse_otr_fingerprint(std::string_view text) {
  std::string hex;
  for (char c : text) {
    if (c == ' ' || c == ':' || c == '\t' || c == '-') continue;
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return std::nullopt;
    hex.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 40) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 8) {
    if (i != 0) out += ' ';
    out += hex.substr(i, 8);
  }
  return out;
}

// ---------------------------------------------------------------------------
// OTR events in words

std::string OtrWords::hint(std::string_view chat_command, const std::string& command_line) const {
  if (in_chat_) return std::string(chat_command);
  if (command_line.empty()) return {};
  return command_prefix(ctx_) + " " + command_line;
}

std::string OtrWords::operator()(const app::PrivacyChanged& e) const {
  std::string who = in_chat_ ? "" : e.peer + ": ";
  std::string line = who + privacy_text(e.privacy);
  if (std::string session = session_text(e.version, e.instance, e.resource); !session.empty()) {
    line += " (" + session + ")";
  }
  switch (e.privacy) {
    case app::Privacy::not_private:
      if (in_chat_) line += " — /otr start to make it private";
      break;
    case app::Privacy::unverified:
      if (in_chat_) {
        line +=
            "\nverify the contact: compare fingerprints (/fingerprint, /verify) or ask a "
            "question (/smp-ask QUESTION)";
      } else {
        line += "; verify the contact in: " + command_prefix(ctx_) + " chat " + e.account + " " +
                e.peer;
      }
      break;
    case app::Privacy::verified:
      break;
    case app::Privacy::finished:
      line += in_chat_ ? ": /otr end or /otr start"
                       : "; nothing more is sent to them until it is ended or restarted";
      break;
  }
  if (is_private(e.privacy) && e.logging) {
    line += "\nthis conversation is being logged (encrypted) — " +
            hint("/log off", "history log off " + e.account + " " + e.peer) + " to turn off";
  }
  return line;
}

std::string OtrWords::operator()(const app::OtrNewFingerprint& e) const {
  return (in_chat_ ? "" : e.peer + ": ") + "first private conversation; their fingerprint is\n  " +
         e.fingerprint + "\ncheck it with " + e.peer +
         " over another channel (phone, in person), then " +
         hint("/verify; or ask a question only they can answer: /smp-ask QUESTION",
              "otr verify " + e.account + " " + e.peer + " " + quoted(e.fingerprint));
}

std::string OtrWords::operator()(const app::OtrKeyChanged& e) const {
  std::string text = std::string(kKeyChangedBanner) + "\nWARNING: " + e.peer +
                     " is using a NEW KEY.\n"
                     "It may be another device or a reinstall — or someone pretending to be "
                     "them.\n";
  for (std::size_t i = 0; i < e.known.size(); ++i) {
    text += (i == 0 ? "  before: " : "          ") + e.known[i] + "\n";
  }
  text += "  now:    " + e.fingerprint +
          "\nThe conversation is NOT verified until you verify this key: compare it with\n" +
          e.peer + " over another channel (phone, in person), then\n" +
          hint("/verify — or ask a question only they can answer: /smp-ask QUESTION",
               "otr verify " + e.account + " " + e.peer + " " + quoted(e.fingerprint)) +
          "\n" + kKeyChangedBanner;
  return text;
}

std::string OtrWords::operator()(const app::SmpProgress& e) const {
  std::string who = in_chat_ ? "" : e.peer + ": ";
  switch (e.stage) {
    case app::SmpStage::asked_question:
      return e.peer + " asks you a question to verify you: \"" + e.question + "\"" +
             (in_chat_ ? "\nanswer with /smp-answer (you type the answer on the next line; it "
                         "is not shown)"
                       : "");
    case app::SmpStage::asked_secret:
      return e.peer + " asks for the secret you share, to verify you" +
             (in_chat_ ? "\nanswer with /smp-answer (you type the secret on the next line; it "
                         "is not shown)"
                       : "");
    case app::SmpStage::in_progress:
      return who + "verification in progress (" + std::to_string(e.percent) + "%)";
    case app::SmpStage::succeeded:
      return who + "verification succeeded: the answers match";
    case app::SmpStage::failed:
      return who +
             "verification FAILED: the answers differ (a typo — or someone else is answering)";
    case app::SmpStage::aborted:
      return who + "verification aborted";
    case app::SmpStage::error:
      return who + "verification failed with a protocol error and was aborted";
  }
  return who + "verification: " + std::string(app::to_string(e.stage));
}

std::string OtrWords::operator()(const app::MessageHeld& e) const {
  return (in_chat_ ? "" : e.peer + ": ") + "held, not sent yet: " + e.reason + " (" +
         plural(e.held, "message") + " waiting)";
}

std::string OtrWords::operator()(const app::OtrProblem& e) const {
  return (in_chat_ ? "" : e.peer + ": ") +
         "private conversation problem: " + (e.message.empty() ? e.code : e.message);
}

std::string OtrWords::operator()(const app::OtrKeyState& e) const {
  switch (e.stage) {
    case app::OtrKeyStage::generating:
      return "generating your key for private conversations (this takes a moment)";
    case app::OtrKeyStage::ready:
      return "your key for private conversations is ready; its fingerprint is\n  " + e.fingerprint;
    case app::OtrKeyStage::failed:
      return "could not generate your key for private conversations: " +
             (e.error ? e.error->message : std::string("unknown error"));
  }
  return "key " + std::string(app::to_string(e.stage));
}

// ---------------------------------------------------------------------------
// otr keygen / fingerprint / trust / verify / forget / policy / import

int otr_keygen(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  const std::string& address = account->address;
  auto current = ctx.engine.otr_fingerprint(address);
  if (!current) return report(current.error());
  if (*current && !args.has("replace")) {
    std::cerr << "sotto: " << address << " already has a key; its fingerprint is\n  " << **current
              << "\nA new key makes your contacts see a changed key: they have to verify you "
                 "again.\nTo replace it anyway: "
              << command_prefix(ctx) << " otr keygen " << address << " --replace\n";
    return kExitError;
  }
  std::cerr << "Generating a key for " << address << " (this takes a moment)...\n";
  auto outcome = std::make_shared<std::optional<Result<std::string>>>();
  ctx.engine.generate_otr_key(
      address, [outcome](Result<std::string> result) { *outcome = std::move(result); });
  const Wait waited = ctx.session.run_until([&] { return outcome->has_value(); }, kKeygenTimeout);
  if (waited == Wait::interrupted) return report(Error{Errc::cancelled, "interrupted", {}});
  if (waited == Wait::timed_out) {
    return report(Error{Errc::timeout, "the key was not ready in time", {}});
  }
  if (!**outcome) return report((*outcome)->error());
  std::cout << "The key of " << address << " is ready. Its fingerprint:\n  " << ***outcome << '\n';
  if (*current) {
    std::cout << "It replaces " << **current
              << ";\nyour contacts will see a changed key and have to verify you again.\n";
  }
  return kExitOk;
}

int otr_fingerprint(Context& ctx, const ParsedArgs& args) {
  std::vector<app::AccountSettings> accounts;
  if (args.positional.empty()) {
    accounts = ctx.engine.accounts();
    if (accounts.empty()) {
      std::cout << "No accounts in profile " << ctx.profile
                << ". Add one with: " << command_prefix(ctx) << " account add ADDRESS\n";
      return kExitOk;
    }
  } else {
    auto account = existing_account(ctx, args.positional[0]);
    if (!account) return report(account.error());
    accounts.push_back(*account);
  }
  std::vector<std::vector<std::string>> rows;
  bool missing = false;
  for (const auto& account : accounts) {
    auto fingerprint = ctx.engine.otr_fingerprint(account.address);
    if (!fingerprint) return report(fingerprint.error());
    missing |= !fingerprint->has_value();
    rows.push_back({account.address, fingerprint->value_or("no key yet")});
  }
  print_table(rows);
  if (missing) {
    std::cout << "(An account gets its key when it first goes online; or now: "
              << command_prefix(ctx) << " otr keygen ACCOUNT)\n";
  }
  return kExitOk;
}

int otr_trust(Context& ctx, const ParsedArgs& args) {
  std::string account;
  if (!args.positional.empty()) {
    auto settings = existing_account(ctx, args.positional[0]);
    if (!settings) return report(settings.error());
    account = settings->address;
  }
  auto known = ctx.engine.otr_fingerprints(account);
  if (!known) return report(known.error());
  std::sort(known->begin(), known->end(), [](const auto& a, const auto& b) {
    return std::tie(a.account, a.peer, a.fingerprint) < std::tie(b.account, b.peer, b.fingerprint);
  });
  if (args.has("json")) {
    std::cout << dump_line(json_array(*known, otr_fingerprint_json)) << '\n';
    return kExitOk;
  }
  if (known->empty()) {
    std::cout << "No fingerprints known" << (account.empty() ? "" : " for " + account)
              << " yet: Sotto learns them in private conversations.\n";
    return kExitOk;
  }
  const bool with_account = account.empty();
  std::vector<std::vector<std::string>> rows;
  rows.push_back(with_account
                     ? std::vector<std::string>{"ACCOUNT", "CONTACT", "FINGERPRINT", "VERIFIED"}
                     : std::vector<std::string>{"CONTACT", "FINGERPRINT", "VERIFIED"});
  for (const auto& f : *known) {
    std::vector<std::string> row;
    if (with_account) row.push_back(f.account);
    row.insert(row.end(), {printable_line(f.peer), f.fingerprint, f.verified ? "yes" : "no"});
    rows.push_back(std::move(row));
  }
  print_table(rows);
  return kExitOk;
}

int otr_verify(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  auto peer = contact_address(args.positional[1]);
  if (!peer) return report(peer.error());
  auto fingerprint = fingerprint_argument(args, 2);
  if (!fingerprint) {
    return usage_error(ctx, "an OTR fingerprint is 40 hex digits (as 5 groups of 8, or not)");
  }
  const bool verified = !args.has("no");
  if (auto set =
          ctx.engine.set_fingerprint_verified(account->address, *peer, *fingerprint, verified);
      !set) {
    return report(set.error());
  }
  if (verified) {
    std::cout << "The fingerprint " << *fingerprint << " of " << *peer
              << " is verified: private conversations with it are \"private and verified\".\n";
  } else {
    std::cout << "The fingerprint " << *fingerprint << " of " << *peer
              << " is no longer verified: private conversations with it are \"private, "
                 "unverified\".\n";
  }
  return kExitOk;
}

int otr_forget(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  auto peer = contact_address(args.positional[1]);
  if (!peer) return report(peer.error());
  auto fingerprint = fingerprint_argument(args, 2);
  if (!fingerprint) {
    return usage_error(ctx, "an OTR fingerprint is 40 hex digits (as 5 groups of 8, or not)");
  }
  if (auto forgotten = ctx.engine.forget_fingerprint(account->address, *peer, *fingerprint);
      !forgotten) {
    return report(forgotten.error());
  }
  std::cout << "Forgot the fingerprint " << *fingerprint << " of " << *peer
            << "; a private conversation with that key shows it as new.\n";
  return kExitOk;
}

int otr_policy(Context& ctx, const ParsedArgs& args) {
  const auto& words = args.positional;
  const bool for_contact = words.size() >= 2;
  std::optional<std::string> choice;
  if (words.size() == 1) choice = words[0];
  if (words.size() == 3) choice = words[2];

  std::optional<app::OtrPolicy> policy;
  if (choice && *choice != "default") {
    policy = app::parse_otr_policy(*choice);
    if (!policy) {
      return usage_error(ctx, "\"" + *choice +
                                  "\" is not a policy: use manual, opportunistic, always, require "
                                  "(or default, for a contact)");
    }
  }
  if (choice && !policy && !for_contact) {
    return usage_error(ctx,
                       "default makes a contact follow the global policy; the global one is "
                       "manual, opportunistic, always or require");
  }

  if (!for_contact) {
    if (policy) {
      if (auto set = ctx.engine.set_otr_policy(*policy); !set) return report(set.error());
    }
    const app::OtrPolicy now = ctx.engine.otr_policy();
    std::cout << "The policy for contacts without their own: " << app::to_string(now) << " ("
              << policy_meaning(now) << ").\n";
    return kExitOk;
  }

  auto account = existing_account(ctx, words[0]);
  if (!account) return report(account.error());
  auto peer = contact_address(words[1]);
  if (!peer) return report(peer.error());
  if (choice) {
    if (auto set = ctx.engine.set_contact_otr_policy(account->address, *peer, policy); !set) {
      return report(set.error());
    }
  }
  auto own = ctx.engine.contact_otr_policy(account->address, *peer);
  if (!own) return report(own.error());
  if (*own) {
    std::cout << *peer << " has a policy of their own: " << app::to_string(**own) << " ("
              << policy_meaning(**own) << ").\n";
  } else {
    const app::OtrPolicy global = ctx.engine.otr_policy();
    std::cout << *peer << " follows the global policy: " << app::to_string(global) << " ("
              << policy_meaning(global) << ").\n";
  }
  return kExitOk;
}

int otr_import(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  std::optional<std::filesystem::path> keys;
  std::optional<std::filesystem::path> fingerprints;
  if (auto file = args.value("keys")) keys = *file;
  if (auto file = args.value("fingerprints")) fingerprints = *file;
  if (!keys && !fingerprints) {
    const char* home = std::getenv("HOME");
    const std::filesystem::path purple = std::filesystem::path(home ? home : "") / ".purple";
    std::error_code ec;
    if (std::filesystem::exists(purple / "otr.private_key", ec)) keys = purple / "otr.private_key";
    if (std::filesystem::exists(purple / "otr.fingerprints", ec)) {
      fingerprints = purple / "otr.fingerprints";
    }
    if (!keys && !fingerprints) {
      return report(Error{Errc::not_found,
                          "there is no otr.private_key or otr.fingerprints in " + purple.string() +
                              "; name the files with --keys FILE and --fingerprints FILE",
                          {}});
    }
  }
  auto imported = ctx.engine.import_pidgin_otr(account->address, keys, fingerprints);
  if (!imported) return report(imported.error());
  if (imported->keys == 0 && imported->fingerprints == 0) {
    std::cout << "Nothing in " << (keys ? keys->string() : "")
              << (keys && fingerprints ? " and " : "")
              << (fingerprints ? fingerprints->string() : "") << " belongs to " << account->address
              << ".\n";
    return kExitOk;
  }
  std::cout << "Imported " << plural(imported->keys, "key") << " and "
            << plural(imported->fingerprints, "fingerprint") << " for " << account->address
            << ".\n";
  if (imported->keys > 0) {
    if (auto fingerprint = ctx.engine.otr_fingerprint(account->address);
        fingerprint && *fingerprint) {
      std::cout << "Its fingerprint now:\n  " << **fingerprint << '\n';
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// chat

namespace {

// One conversation at the terminal. Lines typed on stdin arrive through
// StdinReader (never a blocking read on the core thread); everything printed
// goes to stdout, a line at a time.
class Chat {
 public:
  Chat(Context& ctx, std::string account, std::string peer)
      : ctx_(ctx),
        engine_(ctx.engine),
        session_(ctx.session),
        account_(std::move(account)),
        peer_(std::move(peer)),
        subscription_(engine_, [this](const app::Event& event) { on_event(event); }) {}

  ~Chat() { secure_wipe(line_); }
  Chat(const Chat&) = delete;
  Chat& operator=(const Chat&) = delete;

  int run() {
    online_ = true;
    session_.on_interrupt([this] { quit(kExitOk); });
    std::cout << "Chatting with " << peer_ << " as " << account_
              << ". Type a message and press Enter; /help lists the commands; /quit or Ctrl-D "
                 "leaves."
              << std::endl;
    show_status(/*brief=*/true);
    in_.emplace(
        session_.io(), [this](std::string& data) { on_input(data); },
        [this] { on_end_of_input(); });
    session_.io().run();
    in_.reset();
    session_.drain();
    session_.on_interrupt({});
    return exit_code_;
  }

 private:
  enum class Pending { none, smp_question, smp_secret, smp_answer };
  enum class SmpRole { none, asking, answering_question, answering_secret };

  // --- output -----------------------------------------------------------------

  static std::string now() { return local_time(std::chrono::system_clock::now(), "%H:%M:%S"); }

  // A line about the conversation (not a message), prefixed with "*".
  void say(const std::string& text) {
    std::cout << now() << " * " << printable(text, "           ") << std::endl;
  }

  void show_status(bool brief) {
    auto status = engine_.otr_status(account_, peer_);
    if (!status) return say("OTR status unknown: " + status.error().message);
    std::string line = privacy_text(status->privacy);
    if (std::string session = session_text(status->version, status->instance, status->resource);
        !session.empty()) {
      line += " (" + session + ")";
    }
    if (status->privacy == app::Privacy::finished) line += ": /otr end or /otr start";
    if (status->privacy == app::Privacy::not_private) line += " — /otr start to make it private";
    if (!brief && status->fingerprint) {
      line += "\ntheir fingerprint: " + *status->fingerprint +
              (status->privacy == app::Privacy::verified ? " (verified)" : " (not verified)");
    }
    if (!brief || status->policy != app::OtrPolicy::opportunistic || status->contact_policy) {
      line += "\npolicy: " + std::string(app::to_string(status->policy)) +
              (status->contact_policy ? " (for this contact)" : " (global)") + ": " +
              policy_meaning(status->policy);
    }
    if (status->held > 0) {
      line += "\n" + plural(status->held, "message") + " held until the conversation is private";
    }
    if (is_private(status->privacy) && status->logging) {
      line += "\nthis conversation is being logged (encrypted) — /log off to turn off";
    } else if (!brief) {
      line += status->logging ? "\nhistory: logged (encrypted)"
                              : "\nhistory: not logged; nothing of it touches the disk";
    }
    privacy_ = status->privacy;
    instance_ = status->instance;
    say(line);
  }

  void show_message(const app::MessageReceived& m) {
    std::string who = m.peer == peer_
                          ? (m.outgoing ? "me (from another device)" : m.peer)
                          : (m.outgoing ? "me → " + m.peer : m.peer) + " (not in this chat)";
    std::string line = now() + (m.encrypted ? " [private] " : " ") + printable_line(who) + ": " +
                       printable(m.body, "           ");
    if (m.delayed || m.from_archive) {
      line += "  [sent " + local_time(m.time, "%Y-%m-%d %H:%M:%S") + "]";
    }
    std::cout << line << std::endl;
  }

  // --- events -----------------------------------------------------------------

  void on_event(const app::Event& event) {
    std::visit([this](const auto& e) { handle(e); }, event);
    if (!std::cout && online_ && !quitting_) quit(kExitError);  // stdout's reader went away
  }

  template <class E>
  void handle(const E&) {}  // contacts, roster and authorization: not this chat's business

  bool ours(const std::string& account, const std::string& peer) const {
    return account == account_ && peer == peer_;
  }

  void handle(const app::AccountStateChanged& e) {
    if (e.account != account_ || !online_) return;
    std::string line = account_ + " is " + std::string(app::to_string(e.state));
    if (e.error) line += ": " + e.error->message;
    if (e.state == app::AccountState::online || e.state == app::AccountState::reconnecting ||
        e.state == app::AccountState::failed) {
      say(line);
    }
    if (e.state == app::AccountState::failed) quit(kExitError);
  }

  void handle(const app::PresenceChanged& e) {
    // Going offline ourselves makes every contact look offline: not news.
    if (e.account != account_ || e.address != peer_ || quitting_) return;
    std::string who = e.address + (e.resource.empty() ? "" : "/" + e.resource);
    std::string line = who + " is " + std::string(app::to_string(e.availability));
    if (!e.status.empty()) line += ": " + printable_line(e.status);
    say(line);
  }

  void handle(const app::MessageReceived& e) {
    if (e.account == account_) show_message(e);
  }

  void handle(const app::MessageStateChanged& e) {
    if (e.account != account_ || sent_.count(e.id) == 0) return;
    if (e.state == app::DeliveryState::failed) {
      say("message not sent: " + (e.error ? e.error->message : std::string("it failed")));
    }
  }

  void handle(const app::PrivacyChanged& e) {
    if (!ours(e.account, e.peer)) return;
    // A change of the history switch alone: /log has said so.
    const bool news = e.privacy != privacy_ || (e.instance != 0 && e.instance != instance_);
    privacy_ = e.privacy;
    instance_ = e.instance;
    if (!news) return;
    warned_plain_ = false;
    if (quitting_ && e.privacy == app::Privacy::not_private) {
      return say("ended the private conversation");
    }
    say(OtrWords(ctx_, true)(e));
  }

  void handle(const app::OtrNewFingerprint& e) {
    if (ours(e.account, e.peer)) say(OtrWords(ctx_, true)(e));
  }

  void handle(const app::OtrKeyChanged& e) {
    if (ours(e.account, e.peer)) say(OtrWords(ctx_, true)(e));
  }

  void handle(const app::SmpProgress& e) {
    if (!ours(e.account, e.peer)) return;
    if (e.stage == app::SmpStage::asked_question || e.stage == app::SmpStage::asked_secret) {
      smp_role_ = e.stage == app::SmpStage::asked_question ? SmpRole::answering_question
                                                           : SmpRole::answering_secret;
    }
    if (e.stage != app::SmpStage::succeeded) return say(OtrWords(ctx_, true)(e));
    // Who is verified depends on who asked: answering a question proves
    // who we are to them, not who they are to us (libotr, as Pidgin).
    switch (std::exchange(smp_role_, SmpRole::none)) {
      case SmpRole::asking:
        return say("verification succeeded: " + peer_ + " is verified");
      case SmpRole::answering_question:
        return say("verification succeeded: " + peer_ +
                   " has verified you. To verify them too, ask your own question: /smp-ask "
                   "QUESTION");
      case SmpRole::answering_secret:
      case SmpRole::none:
        return say(OtrWords(ctx_, true)(e));
    }
  }

  void handle(const app::MessageHeld& e) {
    if (ours(e.account, e.peer)) say(OtrWords(ctx_, true)(e));
  }

  void handle(const app::OtrProblem& e) {
    // ended_by_peer comes with a refused send, which send() reports.
    if (ours(e.account, e.peer) && e.code != "ended_by_peer") say(OtrWords(ctx_, true)(e));
  }

  void handle(const app::OtrKeyState& e) {
    if (e.account == account_) say(OtrWords(ctx_, true)(e));
  }

  // --- input ------------------------------------------------------------------

  void on_input(std::string_view data) {
    while (!data.empty() && !quitting_) {
      const std::size_t newline = data.find('\n');
      std::string_view piece = data.substr(0, newline);
      if (!discarding_) {
        if (line_.size() + piece.size() > kMaxChatLine) {
          secure_wipe(line_);
          discarding_ = true;
          say("that line is longer than 256 KiB; it was not sent");
        } else {
          line_.append(piece);
        }
      }
      if (newline == std::string_view::npos) break;
      data.remove_prefix(newline + 1);
      if (discarding_) {
        discarding_ = false;
        continue;
      }
      take_line();
    }
  }

  void on_end_of_input() {
    if (quitting_) return;
    if (!discarding_ && !line_.empty()) take_line();  // the last line may lack its newline
    quit(kExitOk);
  }

  void take_line() {
    std::string line = std::move(line_);
    line_.clear();
    on_line(line);
    secure_wipe(line);
  }

  void on_line(std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (pending_ != Pending::none) return on_secret(line);
    if (line.empty()) return;
    if (line.starts_with("//")) return send(line.substr(1));
    if (line.front() == '/') return command(line);
    send(line);
  }

  // The line after /smp-ask, /smp-secret or /smp-answer.
  void on_secret(std::string& secret) {
    const Pending pending = std::exchange(pending_, Pending::none);
    echo_off_.reset();
    if (secret.empty()) return say("nothing typed; verification not started");
    Result<void> done;
    switch (pending) {
      case Pending::smp_question:
        done = engine_.smp_ask(account_, peer_, std::exchange(question_, {}), secret);
        smp_role_ = SmpRole::asking;
        break;
      case Pending::smp_secret:
        done = engine_.smp_ask(account_, peer_, std::nullopt, secret);
        smp_role_ = SmpRole::asking;
        break;
      case Pending::smp_answer:
        done = engine_.smp_answer(account_, peer_, secret);
        break;
      case Pending::none:
        break;
    }
    if (!done) return say("verification: " + done.error().message);
    say(pending == Pending::smp_answer ? "answer sent; verifying..."
                                       : "asked " + peer_ + " to verify; waiting for the answer");
  }

  void ask_secret(Pending pending, const std::string& prompt) {
    pending_ = pending;
    echo_off_.emplace();
    say(prompt);
  }

  void send(std::string body) {
    auto sent = engine_.send_message(account_, peer_, std::move(body));
    if (!sent) {
      const std::string& why = sent.error().message;
      std::string line = why.starts_with("not sent") ? why : "not sent: " + why;
      if (privacy_ == app::Privacy::finished) line += " (/otr end or /otr start)";
      return say(line);
    }
    sent_.insert(sent->id);
    if (!sent->encrypted && !sent->held && !warned_plain_) {
      warned_plain_ = true;
      say("sent in plain text: this conversation is not private (/otr start)");
    }
  }

  // --- slash commands ---------------------------------------------------------

  void command(const std::string& line) {
    const std::size_t space = line.find(' ');
    const std::string name = line.substr(0, space);
    std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    rest.erase(0, rest.find_first_not_of(' '));
    while (!rest.empty() && rest.back() == ' ') rest.pop_back();

    if (name == "/quit" || name == "/exit") return quit(kExitOk);
    if (name == "/help") return help();
    if (name == "/otr") {
      if (rest == "start") return otr_start();
      if (rest == "end") return otr_end();
      if (rest == "status" || rest.empty()) return show_status(/*brief=*/false);
      return say("/otr takes start, end or status");
    }
    if (name == "/fingerprint") return fingerprints();
    if (name == "/verify") return verify();
    if (name == "/smp-ask") {
      if (rest.empty()) return say("usage: /smp-ask QUESTION (or /smp-secret for a shared secret)");
      question_ = rest;
      return ask_secret(Pending::smp_question,
                        "type the answer " + peer_ + " must give (on the next line, not shown):");
    }
    if (name == "/smp-secret") {
      return ask_secret(Pending::smp_secret, "type the secret you share with " + peer_ +
                                                 " (on the next line, not shown):");
    }
    if (name == "/smp-answer") {
      return ask_secret(Pending::smp_answer, "type your answer (on the next line, not shown):");
    }
    if (name == "/smp-abort") {
      if (auto aborted = engine_.smp_abort(account_, peer_); !aborted) {
        return say("verification: " + aborted.error().message);
      }
      return say("verification aborted");
    }
    if (name == "/log") return log(rest);
    say("unknown command " + name + "; /help lists them (to send a line starting with /, type //)");
  }

  void help() {
    say("commands:\n"
        "  /otr start     start (or refresh) the private conversation\n"
        "  /otr end       end it\n"
        "  /otr status    the padlock, fingerprints, policy and history\n"
        "  /fingerprint   your fingerprint and theirs\n"
        "  /verify        mark their fingerprint verified (after comparing it with them)\n"
        "  /smp-ask QUESTION   verify them with a question (the answer on the next line)\n"
        "  /smp-secret    verify them with a secret you share (on the next line)\n"
        "  /smp-answer    answer their question or secret (on the next line)\n"
        "  /smp-abort     stop a verification\n"
        "  /log on|off    keep this conversation in history, or not\n"
        "  /quit          leave (so does Ctrl-D)\n"
        "a line starting with // is sent as a message starting with /");
  }

  void otr_start() {
    if (auto started = engine_.start_otr(account_, peer_); !started) {
      return say("could not start a private conversation: " + started.error().message);
    }
    say("asking " + peer_ + " for a private conversation...");
  }

  void otr_end() {
    const bool was_private = privacy_ != app::Privacy::not_private;
    if (auto ended = engine_.end_otr(account_, peer_); !ended) {
      return say("could not end the private conversation: " + ended.error().message);
    }
    if (!was_private) say("there was no private conversation to end");
  }

  void fingerprints() {
    auto ours = engine_.otr_fingerprint(account_);
    std::string text = "yours (" + account_ + "): ";
    if (!ours) {
      text += ours.error().message;
    } else {
      text += ours->value_or("no key yet");
    }
    auto status = engine_.otr_status(account_, peer_);
    if (status && status->fingerprint) {
      text += "\ntheirs (" + peer_ + "): " + *status->fingerprint +
              (status->privacy == app::Privacy::verified ? " (verified)" : " (not verified)");
    } else {
      auto known = engine_.otr_fingerprints(account_);
      bool any = false;
      if (known) {
        for (const auto& f : *known) {
          if (f.peer != peer_) continue;
          text += std::string(any ? "\n       " : "\ntheirs (" + peer_ + ", not in use now): ") +
                  f.fingerprint + (f.verified ? " (verified)" : " (not verified)");
          any = true;
        }
      }
      if (!any) text += "\ntheirs: not known yet (start a private conversation: /otr start)";
    }
    say(text);
  }

  void verify() {
    auto status = engine_.otr_status(account_, peer_);
    if (!status) return say("cannot verify: " + status.error().message);
    if (!status->fingerprint || !is_private(status->privacy)) {
      return say("no private conversation to verify: /otr start first, then compare fingerprints");
    }
    if (auto set = engine_.set_fingerprint_verified(account_, peer_, *status->fingerprint, true);
        !set) {
      return say("could not mark it verified: " + set.error().message);
    }
    say("marked the fingerprint " + *status->fingerprint + " of " + peer_ + " verified");
  }

  void log(const std::string& choice) {
    if (choice == "on" || choice == "off") {
      const bool on = choice == "on";
      if (auto set = engine_.set_contact_log_history(account_, peer_, on); !set) {
        return say("history: " + set.error().message);
      }
      if (!on) return say("this conversation is not logged; nothing of it touches the disk");
      return say(engine_.log_history() ? "this conversation is logged (encrypted)"
                                       : "this conversation is logged once logging is on again (" +
                                             command_prefix(ctx_) + " history log on)");
    }
    if (!choice.empty()) return say("/log takes on or off");
    auto own = engine_.contact_log_history(account_, peer_);
    if (!own) return say("history: " + own.error().message);
    say(*own && engine_.log_history()
            ? "this conversation is logged (encrypted) — /log off to turn off"
            : "this conversation is not logged");
  }

  // --- leaving ----------------------------------------------------------------

  void quit(int exit_code) {
    if (quitting_) return;
    quitting_ = true;
    exit_code_ = exit_code;
    pending_ = Pending::none;
    echo_off_.reset();
    if (in_) in_->stop();
    // A private conversation ends with us: the contact's padlock must not
    // show one that nobody is reading any more.
    if (auto status = engine_.otr_status(account_, peer_); status) {
      if (status->held > 0) {
        say(plural(status->held, "held message") + " will not be sent");
      }
      if (is_private(status->privacy) && engine_.state(account_) == app::AccountState::online) {
        (void)engine_.end_otr(account_, peer_);
      }
    }
    session_.shut_down_async([this] { session_.io().stop(); });
  }

  Context& ctx_;
  app::Engine& engine_;
  Session& session_;
  const std::string account_;
  const std::string peer_;
  std::optional<StdinReader> in_;
  std::string line_;
  bool discarding_ = false;
  bool online_ = false;
  bool quitting_ = false;
  int exit_code_ = kExitOk;
  Pending pending_ = Pending::none;
  std::string question_;
  SmpRole smp_role_ = SmpRole::none;
  std::optional<StdinEchoOff> echo_off_;
  std::set<std::string> sent_;
  app::Privacy privacy_ = app::Privacy::not_private;
  std::uint32_t instance_ = 0;
  bool warned_plain_ = false;
  ScopedSubscription subscription_;
};

}  // namespace

int chat(Context& ctx, const ParsedArgs& args) {
  auto peer = contact_address(args.positional[1]);
  if (!peer) return report(peer.error());
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  if (*peer == account->address) {
    return usage_error(ctx, "chat with someone else: that is the account itself");
  }
  Chat chat(ctx, account->address, *peer);
  if (auto online_as = online(ctx, args, account->address); !online_as) return kExitError;
  return chat.run();
}

}  // namespace sotto::cli
