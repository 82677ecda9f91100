// The human commands: each one reads its arguments, talks to the engine on
// the core thread through Session, and answers in the user's words. Results go
// to stdout, errors to stderr; text from the network goes through printable().
#include "commands.h"

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "json_events.h"
#include "stdin_reader.h"
#include "terminal.h"

namespace sotto::cli {

// Messages can quote what a server said: printable() keeps escapes out.
int report(const Error& error) {
  std::cerr << "sotto: " << printable(error.message) << '\n';
  return kExitError;
}

std::string local_time(std::chrono::system_clock::time_point time, const char* format) {
  std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  localtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

namespace {

constexpr Millis kRosterPushTimeout{3000};

}  // namespace

// --- addresses and accounts --------------------------------------------------

Result<std::string> account_address(std::string_view text) {
  auto jid = Jid::parse(text);
  if (!jid) return Unexpected(jid.error());
  if (jid->local().empty() || !jid->is_bare()) {
    return fail(
        Errc::invalid_argument,
        "\"" + std::string(text) + "\" is not an account address; it looks like name@server");
  }
  return jid->bare_str();
}

Result<std::string> contact_address(std::string_view text) {
  auto jid = Jid::parse(text);
  if (!jid) return Unexpected(jid.error());
  return jid->bare_str();
}

Result<app::AccountSettings> existing_account(const Context& ctx, std::string_view text) {
  const std::string key = without_sip_scheme(text);
  const auto accounts = ctx.engine.accounts();
  for (const auto& account : accounts) {
    if (account.address == key) return account;
  }
  auto address = account_address(key);
  if (!address) return Unexpected(address.error());
  for (const auto& account : accounts) {
    if (auto stored = account_address(account.address); stored && *stored == *address)
      return account;
  }
  return fail(Errc::not_found, "there is no account " + *address +
                                   " in this profile; add it with: " + command_prefix(ctx) +
                                   " account add " + *address);
}

std::string without_sip_scheme(std::string_view address) {
  if (address.size() > 4 && (address.starts_with("sip:") || address.starts_with("SIP:")))
    address.remove_prefix(4);
  return std::string(address);
}

// --- passwords -----------------------------------------------------------------

// The password to log in with; none when the profile remembers it.
Result<std::optional<Secret>> login_password(const ParsedArgs& args,
                                             const app::AccountSettings& account) {
  if (account.remember_password) return std::optional<Secret>();
  auto secret = args.has("password-stdin")
                    ? read_stdin_secret("the password")
                    : prompt_secret("Password for " + account.address + ": ");
  if (!secret) return Unexpected(secret.error());
  return std::optional<Secret>(std::move(*secret));
}

std::optional<std::string> for_engine(const std::optional<Secret>& secret) {
  if (!secret) return std::nullopt;
  return secret->value;
}

namespace {

// A password being chosen: typed twice on a terminal, one line on stdin.
Result<Secret> chosen_password(const ParsedArgs& args, std::string_view prompt) {
  if (args.has("password-stdin")) return read_stdin_secret("the new password");
  auto first = prompt_secret(prompt);
  if (!first) return first;
  auto second = prompt_secret("Type it again: ");
  if (!second) return second;
  if (first->value != second->value) {
    return fail(Errc::invalid_argument, "the two passwords differ; nothing was changed");
  }
  return first;
}

// --- server options ------------------------------------------------------------

Result<void> apply_server_options(const ParsedArgs& args, app::AccountSettings& settings) {
  if (auto host = args.value("host")) settings.host = *host;
  if (auto port = args.value("port")) {
    auto value = parse_number<uint16_t>(*port, 1, 65535);
    if (!value) return fail(Errc::invalid_argument, "--port needs a number from 1 to 65535");
    settings.port = *value;
  }
  settings.direct_tls = args.has("direct-tls");
  if (settings.direct_tls && settings.host.empty()) {
    return fail(Errc::invalid_argument, "--direct-tls needs --host");
  }
  const bool sip = settings.protocol == "sip";
  if (sip && settings.direct_tls) {
    return fail(Errc::invalid_argument,
                "--direct-tls is for XMPP; SIP over TLS is --transport tls");
  }
  if (auto transport = args.value("transport")) {
    if (!sip) return fail(Errc::invalid_argument, "--transport is for SIP accounts (--sip)");
    if (*transport != "udp" && *transport != "tcp" && *transport != "tls")
      return fail(Errc::invalid_argument, "--transport needs udp, tcp or tls");
    settings.transport = *transport;
  }
  if (auto user = args.value("auth-user")) {
    if (!sip) return fail(Errc::invalid_argument, "--auth-user is for SIP accounts (--sip)");
    settings.auth_user = *user;
  }
  if (auto pin = args.value("pin")) {
    auto fingerprint = normalize_fingerprint(*pin);
    if (!fingerprint || fingerprint->size() != 64) {
      return fail(Errc::invalid_argument,
                  "--pin needs the certificate's SHA-256 fingerprint: 64 hex digits");
    }
    settings.pinned_cert_sha256 = *fingerprint;
  }
  return {};
}

// The command to run again, with the certificate pinned.
std::string with_pin(const Context& ctx, const app::AccountSettings& settings,
                     const std::string& fingerprint) {
  std::string line =
      command_prefix(ctx) + " " + std::string(ctx.command.words) + " " + settings.address;
  if (settings.protocol == "sip") {
    line += " --sip --transport " + settings.transport;
    if (!settings.auth_user.empty()) line += " --auth-user " + settings.auth_user;
  }
  if (!settings.host.empty()) line += " --host " + settings.host;
  if (settings.port != 0) line += " --port " + std::to_string(settings.port);
  if (settings.direct_tls) line += " --direct-tls";
  line += " --pin " + fingerprint;
  if (settings.remember_password) line += " --remember";
  return line;
}

std::string pin_hint(const Context& ctx, const std::string& account,
                     const std::string& fingerprint) {
  return command_prefix(ctx) + " account pin " + account + " " + fingerprint;
}

// A login that failed for an account already in the profile.
int report_login_failure(const Context& ctx, const std::string& account, const Error& error) {
  report(error);
  if (error.code == Errc::certificate && !error.detail.empty()) {
    std::cerr << "To trust this certificate:\n  " << pin_hint(ctx, account, error.detail) << '\n';
  }
  return kExitError;
}

}  // namespace

// --- going online ----------------------------------------------------------------

Result<std::string> online(Context& ctx, const ParsedArgs& args, std::string_view account_text,
                           app::Availability availability, std::string status) {
  auto account = existing_account(ctx, account_text);
  if (!account) {
    report(account.error());
    return Unexpected(account.error());
  }
  auto password = login_password(args, *account);
  if (!password) {
    report(password.error());
    return Unexpected(password.error());
  }
  auto result = ctx.session.go_online(account->address, for_engine(*password), availability,
                                      std::move(status), kConnectTimeout);
  if (!result) {
    report_login_failure(ctx, account->address, result.error());
    ctx.session.shut_down();
    return Unexpected(result.error());
  }
  return account->address;
}

Result<void> await(Session& session,
                   const std::function<void(std::function<void(Result<void>)>)>& start,
                   Millis timeout) {
  auto outcome = std::make_shared<std::optional<Result<void>>>();
  start([outcome](Result<void> result) { *outcome = std::move(result); });
  switch (session.run_until([&] { return outcome->has_value(); }, timeout)) {
    case Wait::done:
      return std::move(**outcome);
    case Wait::interrupted:
      return fail(Errc::cancelled, "interrupted");
    case Wait::timed_out:
      return fail(Errc::timeout, "the server did not answer in time");
  }
  return fail(Errc::timeout, "the server did not answer in time");
}

namespace {

// Waits a little for the server to confirm a change to `address` with a
// roster push; true when it did.
bool await_roster_push(Session& session, const std::string& account, const std::string& address,
                       Millis timeout) {
  bool seen = false;
  ScopedSubscription subscription(session.engine(), [&](const app::Event& event) {
    if (const auto* changed = std::get_if<app::ContactChanged>(&event)) {
      seen |= changed->contact.account == account && changed->contact.address == address;
    } else if (const auto* removed = std::get_if<app::ContactRemoved>(&event)) {
      seen |= removed->account == account && removed->address == address;
    }
  });
  return session.run_until([&] { return seen; }, timeout) == Wait::done;
}

// --- output ----------------------------------------------------------------------

std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

void print_table(const std::vector<std::vector<std::string>>& rows, std::string_view indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], display_width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line(indent);
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - display_width(row[i]) + 2, ' ');
    }
    std::cout << line << '\n';
  }
}

namespace {

std::string presence_text(app::Availability availability, const std::string& status) {
  std::string text(app::to_string(availability));
  if (!status.empty()) text += ": " + printable_line(status);
  return text;
}

std::string subscription_text(const app::Contact& contact) {
  std::string text = contact.subscription;
  if (contact.waiting_for_authorization) text += ", waiting for authorization";
  return text;
}

// One event as a line for people (without the time stamp), before printable().
class Describe {
 public:
  explicit Describe(const Context& ctx) : ctx_(ctx) {}

  std::string operator()(const app::AccountStateChanged& e) const {
    std::string line = e.state == app::AccountState::failed
                           ? e.account + " failed"
                           : e.account + " is " + std::string(app::to_string(e.state));
    if (e.error) line += ": " + e.error->message;
    if (e.error && e.error->code == Errc::certificate && !e.error->detail.empty()) {
      line += "\n  To trust this certificate: " + pin_hint(ctx_, e.account, e.error->detail);
    }
    return line;
  }
  std::string operator()(const app::ContactsLoaded& e) const {
    return e.account + ": " + std::to_string(e.contacts.size()) + " contact" +
           (e.contacts.size() == 1 ? "" : "s");
  }
  std::string operator()(const app::ContactChanged& e) const {
    const app::Contact& c = e.contact;
    std::string line = c.account + ": contact " + c.address;
    if (!c.name.empty()) line += " (" + c.name + ")";
    return line + ", subscription " + subscription_text(c);
  }
  std::string operator()(const app::ContactRemoved& e) const {
    return e.account + ": contact " + e.address + " removed";
  }
  std::string operator()(const app::PresenceChanged& e) const {
    std::string who = e.address + (e.resource.empty() ? "" : "/" + e.resource);
    return e.account + ": " + who + " is " + presence_text(e.availability, e.status);
  }
  std::string operator()(const app::AuthorizationRequested& e) const {
    std::string who = e.address;
    if (!e.nick.empty()) who += " (" + e.nick + ")";
    std::string answer = command_prefix(ctx_) + " contact authorize " + e.account + " " + e.address;
    return e.account + ": " + who + " asks to see your presence: " + answer + " (or contact deny)";
  }
  std::string operator()(const app::AuthorizationDenied& e) const {
    return e.account + ": " + e.address + " refused (or withdrew) your view of their presence";
  }
  std::string operator()(const app::MessageReceived& e) const {
    std::string line = e.account + (e.outgoing ? " → " : " ← ") + e.peer + ": " + e.body;
    if (e.encrypted) line += "  [private]";
    if (e.outgoing) line += "  [sent from another device]";
    if (e.delayed || e.from_archive) line += "  [" + local_time(e.time, "%Y-%m-%d %H:%M:%S") + "]";
    return line;
  }
  std::string operator()(const app::MessageStateChanged& e) const {
    std::string line = e.account + " → " + e.peer + ": message " + e.id + " " +
                       std::string(app::to_string(e.state));
    if (e.error) line += ": " + e.error->message;
    return line;
  }
  std::string operator()(const app::CallChanged& e) const {
    const app::CallInfo& c = e.call;
    std::string line = c.account + ": call " + c.id + (c.outgoing ? " to " : " from ") + c.peer;
    switch (c.state) {
      case app::CallState::calling:
        return line + ": calling";
      case app::CallState::ringing:
        return line + ": ringing";
      case app::CallState::incoming:
        return c.account + ": incoming call from " +
               (c.peer_name.empty() ? c.peer : c.peer_name + " <" + c.peer + ">") + " (call " +
               c.id + "); type: answer " + c.id + " (or reject, busy)";
      case app::CallState::active:
        line += ": connected";
        if (!c.codec.empty()) line += " (" + c.codec + ")";
        if (c.on_hold) line += ", on hold";
        if (c.remote_hold) line += ", held by them";
        return line;
      case app::CallState::ended:
        return line + ": ended: " + c.end_text;
    }
    return line;
  }
  std::string operator()(const app::CallDtmf& e) const {
    return "call " + e.id + ": key " + e.digit;
  }
  std::string operator()(const app::AudioDeviceEvent& e) const { return "audio: " + e.text; }
  template <class OtrEvent>
  std::string operator()(const OtrEvent& e) const {
    return e.account + ": " + OtrWords(ctx_, /*in_chat=*/false)(e);
  }

 private:
  const Context& ctx_;
};

std::string timestamped(std::string_view text) {
  return local_time(std::chrono::system_clock::now(), "%H:%M:%S") + " " +
         printable(text, "         ");
}

std::string timestamped(const Context& ctx, const app::Event& event) {
  return timestamped(std::visit(Describe(ctx), event));
}

// `sotto listen`'s lines for calls: a line when the state changes (as
// Describe says it), and CallPrinter's lines about encryption and mute, each
// once; nothing for the quality updates that come every few seconds.
class ListenCalls {
 public:
  explicit ListenCalls(const Context& ctx) : ctx_(ctx) {}

  std::vector<std::string> operator()(const app::Event& event) {
    if (const auto* changed = std::get_if<app::CallChanged>(&event)) {
      const app::CallInfo& c = changed->call;
      CallPrinter::News news = printer_.news(c);
      std::vector<std::string> lines;
      if (!news.state.empty()) lines.push_back(timestamped(ctx_, event));
      const std::string prefix =
          c.account + ": call " + c.id + (c.outgoing ? " to " : " from ") + c.peer + ": ";
      for (const auto& line : news.other) lines.push_back(timestamped(prefix + line));
      return lines;
    }
    if (const auto* key = std::get_if<app::CallDtmf>(&event)) {
      return {timestamped("call " + key->id + ": " + printer_(*key))};
    }
    return {timestamped(ctx_, event)};
  }

 private:
  const Context& ctx_;
  CallPrinter printer_{/*name_calls=*/true};
};

}  // namespace

// --- account -------------------------------------------------------------------------

int account_add(Context& ctx, const ParsedArgs& args) {
  app::AccountSettings settings;
  const std::string& text = args.positional[0];
  if (args.has("sip") || without_sip_scheme(text) != text) {
    // The engine checks it: user@domain, the user's case kept.
    settings.protocol = "sip";
    settings.address = without_sip_scheme(text);
    const auto at = settings.address.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == settings.address.size()) {
      return report(Error{Errc::invalid_argument,
                          "\"" + text + "\" is not a SIP address; it looks like user@domain",
                          {}});
    }
    for (std::size_t i = at + 1; i < settings.address.size(); ++i) {
      settings.address[i] =
          static_cast<char>(std::tolower(static_cast<unsigned char>(settings.address[i])));
    }
  } else {
    auto address = account_address(text);
    if (!address) return report(address.error());
    settings.address = *address;
  }
  const std::string address_text = settings.address;
  const std::string* address = &address_text;
  settings.remember_password = args.has("remember");
  if (auto applied = apply_server_options(args, settings); !applied) {
    return usage_error(ctx, applied.error().message);
  }
  auto password = args.has("password-stdin") ? read_stdin_secret("the password")
                                             : prompt_secret("Password for " + *address + ": ");
  if (!password) return report(password.error());
  if (auto added = ctx.engine.add_account(settings, password->value); !added) {
    return report(added.error());
  }
  if (args.has("no-verify")) {
    std::cout << "Account " << *address << " added (not checked with its server).\n";
    return kExitOk;
  }

  auto result = ctx.session.go_online(*address, password->value, app::Availability::available, {},
                                      kConnectTimeout);
  if (!result) {
    if (auto removed = ctx.engine.remove_account(*address); !removed) report(removed.error());
    ctx.session.shut_down();
    const Error& error = result.error();
    report(error);
    if (error.code == Errc::certificate && !error.detail.empty()) {
      std::cerr << "To trust this certificate:\n  " << with_pin(ctx, settings, error.detail)
                << '\n';
    } else if (error.code == Errc::network || error.code == Errc::timeout) {
      std::cerr << "The account was not added. To add it without logging in, use --no-verify.\n";
    } else {
      std::cerr << "The account was not added.\n";
    }
    return kExitError;
  }
  ctx.session.shut_down();
  std::cout << "Account " << *address << " added; it logged in to its server.\n";
  return kExitOk;
}

int account_list(Context& ctx, const ParsedArgs&) {
  const auto accounts = ctx.engine.accounts();
  if (accounts.empty()) {
    std::cout << "No accounts in profile " << ctx.profile
              << ". Add one with: " << command_prefix(ctx) << " account add ADDRESS\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"ADDRESS", "SERVER", "PASSWORD REMEMBERED", "PINNED CERTIFICATE (SHA-256)"}};
  for (const auto& account : accounts) {
    const bool sip = account.protocol == "sip";
    std::string server = "DNS";
    if (!account.host.empty()) {
      uint16_t port = account.port;
      if (port == 0) {
        port =
            sip ? (account.transport == "tls" ? 5061 : 5060) : (account.direct_tls ? 5223 : 5222);
      }
      server = account.host + ":" + std::to_string(port);
    }
    if (account.direct_tls) server += " (direct TLS)";
    if (sip) server += " (SIP over " + account.transport + ")";
    rows.push_back({account.address, server, account.remember_password ? "yes" : "no",
                    account.pinned_cert_sha256.empty() ? "-" : account.pinned_cert_sha256});
  }
  print_table(rows);
  return kExitOk;
}

int account_remove(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  if (auto removed = ctx.engine.remove_account(account->address); !removed) {
    return report(removed.error());
  }
  std::cout << "Account " << account->address
            << " removed from this profile (it still exists on its server).\n";
  return kExitOk;
}

int account_pin(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  auto fingerprint = normalize_fingerprint(args.positional[1]);
  if (!fingerprint || fingerprint->size() != 64) {
    return usage_error(ctx, "a certificate fingerprint is 64 hex digits (SHA-256)");
  }
  if (auto pinned = ctx.engine.pin_certificate(account->address, *fingerprint); !pinned) {
    return report(pinned.error());
  }
  std::cout << account->address << " now trusts the certificate "
            << format_fingerprint(*fingerprint) << ".\n";
  return kExitOk;
}

int account_register(Context& ctx, const ParsedArgs& args) {
  auto address = account_address(args.positional[0]);
  if (!address) return report(address.error());
  app::AccountSettings settings;
  settings.address = *address;
  settings.remember_password = args.has("remember");
  if (auto applied = apply_server_options(args, settings); !applied) {
    return usage_error(ctx, applied.error().message);
  }
  auto password = chosen_password(args, "Password for the new account " + *address + ": ");
  if (!password) return report(password.error());

  auto result = await(
      ctx.session,
      [&](auto done) { ctx.engine.register_account(settings, password->value, std::move(done)); },
      kConnectTimeout);
  ctx.session.shut_down();
  if (!result) {
    const Error& error = result.error();
    std::string message = error.message;
    if (!message.starts_with("could not create"))
      message = "could not create the account: " + message;
    std::cerr << "sotto: " << message << '\n';
    if (error.code == Errc::certificate && !error.detail.empty()) {
      std::cerr << "To trust this certificate:\n  " << with_pin(ctx, settings, error.detail)
                << '\n';
    }
    return kExitError;
  }
  std::cout << "Account " << *address << " created.\n";
  return kExitOk;
}

int account_passwd(Context& ctx, const ParsedArgs& args) {
  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  std::optional<Secret> current;
  if (!account->remember_password) {
    auto secret = args.has("password-stdin")
                      ? read_stdin_secret("the current password")
                      : prompt_secret("Current password for " + account->address + ": ");
    if (!secret) return report(secret.error());
    current = std::move(*secret);
  }
  auto chosen = chosen_password(args, "New password for " + account->address + ": ");
  if (!chosen) return report(chosen.error());

  auto login = ctx.session.go_online(account->address, for_engine(current),
                                     app::Availability::available, {}, kConnectTimeout);
  if (!login) {
    ctx.session.shut_down();
    return report_login_failure(ctx, account->address, login.error());
  }
  auto result = await(ctx.session, [&](auto done) {
    ctx.engine.change_password(account->address, chosen->value, std::move(done));
  });
  ctx.session.shut_down();
  if (!result) return report(result.error());
  std::cout << "The password of " << account->address << " was changed"
            << (account->remember_password ? " (and the remembered one updated).\n" : ".\n");
  return kExitOk;
}

// --- contacts -------------------------------------------------------------------------

int contact_add(Context& ctx, const ParsedArgs& args) {
  auto address = contact_address(args.positional[1]);
  if (!address) return report(address.error());
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  auto result = await(ctx.session, [&](auto done) {
    ctx.engine.add_contact(*account, *address, args.value("name").value_or(""),
                           args.values("group"), std::move(done));
  });
  ctx.session.shut_down();
  if (!result) return report(result.error());
  std::cout << "Added " << *address << " to the contacts of " << *account
            << " and asked to see their presence.\n";
  return kExitOk;
}

int contact_list(Context& ctx, const ParsedArgs& args) {
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  ctx.session.settle();
  auto contacts = ctx.engine.contacts(*account);
  ctx.session.shut_down();
  if (!contacts) return report(contacts.error());
  if (contacts->empty()) {
    std::cout << *account << " has no contacts.\n";
    return kExitOk;
  }

  std::map<std::string, std::vector<const app::Contact*>> groups;  // "" = no group
  for (const auto& contact : *contacts) {
    if (contact.groups.empty()) groups[""].push_back(&contact);
    for (const auto& group : contact.groups) groups[group].push_back(&contact);
  }
  auto print_group = [&](const std::string& title, std::vector<const app::Contact*> members) {
    std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
      return std::tie(a->name, a->address) < std::tie(b->name, b->address);
    });
    std::cout << title << '\n';
    std::vector<std::vector<std::string>> rows;
    for (const auto* c : members) {
      rows.push_back({c->name.empty() ? "-" : printable_line(c->name), c->address,
                      subscription_text(*c), presence_text(c->availability, c->status)});
    }
    print_table(rows, "  ");
  };
  for (const auto& [group, members] : groups) {
    if (!group.empty()) print_group(printable_line(group), members);
  }
  if (auto ungrouped = groups.find(""); ungrouped != groups.end()) {
    print_group("(no group)", ungrouped->second);
  }
  return kExitOk;
}

int contact_remove(Context& ctx, const ParsedArgs& args) {
  auto address = contact_address(args.positional[1]);
  if (!address) return report(address.error());
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  auto result = await(ctx.session, [&](auto done) {
    ctx.engine.remove_contact(*account, *address, std::move(done));
  });
  ctx.session.shut_down();
  if (!result) return report(result.error());
  std::cout << "Removed " << *address << " from the contacts of " << *account << ".\n";
  return kExitOk;
}

namespace {

// authorize and deny: the request the server re-delivers after login must
// have arrived, then the answer goes out and the server confirms it with a
// roster push where it has a roster item to change.
int answer_request(Context& ctx, const ParsedArgs& args, bool authorize) {
  auto address = contact_address(args.positional[1]);
  if (!address) return report(address.error());
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  ctx.session.settle();
  auto pending = ctx.engine.pending_requests(*account);
  bool asked = pending && std::find(pending->begin(), pending->end(), *address) != pending->end();
  auto result =
      authorize ? ctx.engine.authorize(*account, *address) : ctx.engine.deny(*account, *address);
  if (result) {
    await_roster_push(ctx.session, *account, *address, authorize ? kRosterPushTimeout : 1s);
  }
  ctx.session.shut_down();
  if (!result) return report(result.error());
  if (!asked) std::cerr << "note: " << *address << " had no pending request.\n";
  if (authorize) {
    std::cout << *address << " may now see the presence of " << *account << ".\n";
  } else {
    std::cout << "Refused " << *address << " the presence of " << *account << ".\n";
  }
  return kExitOk;
}

}  // namespace

int contact_authorize(Context& ctx, const ParsedArgs& args) {
  return answer_request(ctx, args, true);
}

int contact_deny(Context& ctx, const ParsedArgs& args) { return answer_request(ctx, args, false); }

int contact_requests(Context& ctx, const ParsedArgs& args) {
  std::map<std::string, std::string> nicks;
  ScopedSubscription subscription(ctx.engine, [&](const app::Event& event) {
    if (const auto* request = std::get_if<app::AuthorizationRequested>(&event)) {
      nicks[request->address] = request->nick;
    }
  });
  auto account = online(ctx, args, args.positional[0]);
  if (!account) return kExitError;
  ctx.session.settle();
  auto pending = ctx.engine.pending_requests(*account);
  ctx.session.shut_down();
  if (!pending) return report(pending.error());
  if (pending->empty()) {
    std::cout << "No one is waiting for an answer from " << *account << ".\n";
    return kExitOk;
  }
  for (const auto& address : *pending) {
    std::string nick = nicks[address];
    std::cout << address << (nick.empty() ? "" : " (" + printable_line(nick) + ")")
              << " asks to see your presence\n";
  }
  std::cout << "Answer with: " << command_prefix(ctx) << " contact authorize|deny " << *account
            << " ADDRESS\n";
  return kExitOk;
}

// --- presence, messages, events -----------------------------------------------------

int status(Context& ctx, const ParsedArgs& args) {
  auto availability = app::parse_availability(args.positional[1]);
  if (!availability) {
    return usage_error(ctx,
                       "\"" + args.positional[1] +
                           "\" is not a presence: use available, chat, away, xa, dnd or offline");
  }
  std::string text;
  for (std::size_t i = 2; i < args.positional.size(); ++i) {
    text += (i > 2 ? " " : "") + args.positional[i];
  }
  if (*availability == app::Availability::offline) {
    auto account = existing_account(ctx, args.positional[0]);
    if (!account) return report(account.error());
    std::cout << account->address << " is offline: sotto keeps no connection between commands.\n";
    return kExitOk;
  }
  auto account = online(ctx, args, args.positional[0], *availability, text);
  if (!account) return kExitError;

  int exit_code = kExitOk;
  auto& session = ctx.session;
  ScopedSubscription subscription(ctx.engine, [&](const app::Event& event) {
    const auto* change = std::get_if<app::AccountStateChanged>(&event);
    if (change == nullptr || change->account != *account) return;
    std::cerr << timestamped(ctx, event) << '\n';
    if (change->state == app::AccountState::failed) {
      exit_code = kExitError;
      session.shut_down_async([&] { session.io().stop(); });
    }
  });
  session.on_interrupt([&] { session.shut_down_async([&] { session.io().stop(); }); });
  std::cout << *account << " is online as " << app::to_string(*availability)
            << (text.empty() ? "" : ": " + text) << "; press Ctrl-C to go offline\n"
            << std::flush;
  session.io().run();
  session.drain();
  return exit_code;
}

int send(Context& ctx, const ParsedArgs& args) {
  auto to = contact_address(args.positional[1]);
  if (!to) return report(to.error());
  Millis timeout{20000};
  if (auto seconds = args.value("timeout")) {
    auto value = parse_number<unsigned>(*seconds, 1, std::numeric_limits<unsigned>::max());
    if (!value) return usage_error(ctx, "--timeout needs a number of seconds");
    timeout = Millis(*value * 1000LL);
  }
  const bool wait_delivered = args.has("wait-delivered");
  const TimePoint deadline = Clock::now() + timeout;

  auto account = existing_account(ctx, args.positional[0]);
  if (!account) return report(account.error());
  auto password = login_password(args, *account);  // first line of stdin, when asked for
  if (!password) return report(password.error());
  std::string body;
  if (args.positional.size() == 3 && args.positional[2] == "-") {
    auto text = read_stdin_all();
    if (!text) return report(text.error());
    body = std::move(*text);
  } else {
    for (std::size_t i = 2; i < args.positional.size(); ++i) {
      body += (i > 2 ? " " : "") + args.positional[i];
    }
  }
  if (body.empty()) return report(Error{Errc::invalid_argument, "the message is empty", {}});

  auto login = ctx.session.go_online(account->address, for_engine(*password),
                                     app::Availability::available, {}, timeout);
  if (!login) {
    ctx.session.shut_down();
    return report_login_failure(ctx, account->address, login.error());
  }

  // States by message id: "queued" (or "held") may be announced before
  // send_message returns. A held message ("require") gets its states once the
  // conversation is private and it goes out.
  std::map<std::string, app::MessageStateChanged> states;
  std::map<std::string, std::string> held_reasons;
  std::optional<std::string> id;
  bool held = false;
  auto say_held = [&](const std::string& reason) {
    held = true;
    std::cerr << "held: " << printable_line(reason) << std::endl;
  };
  ScopedSubscription subscription(ctx.engine, [&](const app::Event& event) {
    if (const auto* change = std::get_if<app::MessageStateChanged>(&event)) {
      if (change->account == account->address) states.insert_or_assign(change->id, *change);
    } else if (const auto* hold = std::get_if<app::MessageHeld>(&event)) {
      if (hold->account != account->address) return;
      if (!id) {
        held_reasons.insert_or_assign(hold->id, hold->reason);
      } else if (hold->id == *id) {
        say_held(hold->reason);
      }
    }
  });
  auto sent = ctx.engine.send_message(account->address, *to, std::move(body));
  if (!sent) {
    ctx.session.shut_down();
    return report(sent.error());
  }
  id = sent->id;
  if (auto reason = held_reasons.find(*id); reason != held_reasons.end()) {
    say_held(reason->second);
  }
  held |= sent->held;
  auto state = [&]() -> std::optional<app::DeliveryState> {
    auto it = states.find(*id);
    if (it == states.end()) return std::nullopt;
    return it->second.state;
  };
  auto finished = [&] {
    auto s = state();
    if (!s || *s == app::DeliveryState::failed) return s.has_value();
    return wait_delivered ? *s == app::DeliveryState::delivered : *s != app::DeliveryState::queued;
  };
  const Clock::duration left = std::max<Clock::duration>(deadline - Clock::now(), Millis(0));
  Wait wait = ctx.session.run_until(finished, std::chrono::duration_cast<Millis>(left));
  bool still_held = false;
  if (held && wait != Wait::done) {
    auto otr = ctx.engine.otr_status(account->address, *to);
    still_held = otr ? otr->held > 0 : !state().has_value();
  }
  ctx.session.shut_down();

  std::cout << *id << '\n';
  auto s = state();
  if (s == app::DeliveryState::failed) {
    const auto& error = states.at(*id).error;
    return report(error.value_or(Error{Errc::protocol, "the message could not be delivered", {}}));
  }
  if (wait == Wait::interrupted) {
    return report(Error{Errc::cancelled,
                        still_held ? "interrupted; the held message was not sent" : "interrupted",
                        {}});
  }
  if (wait == Wait::timed_out) {
    if (still_held) {
      return report(Error{Errc::timeout,
                          "the conversation with " + *to +
                              " did not become private in time, so the message was not sent "
                              "(the OTR policy requires a private conversation)",
                          {}});
    }
    if (s == app::DeliveryState::sent) {
      return report(Error{Errc::timeout,
                          "the server has the message, but no delivery receipt came in time (" +
                              *to + " may be offline, or their client sends no receipts)",
                          {}});
    }
    return report(Error{Errc::timeout, "the server did not acknowledge the message in time", {}});
  }
  return kExitOk;
}

int listen(Context& ctx, const ParsedArgs& args) {
  if (int applied = apply_audio_options(ctx, args); applied != kExitOk) return applied;
  std::vector<app::AccountSettings> accounts;
  if (args.positional.empty()) {
    accounts = ctx.engine.accounts();
    if (accounts.empty()) {
      return report(Error{Errc::not_found,
                          "there are no accounts in this profile; add one with: " +
                              command_prefix(ctx) + " account add ADDRESS",
                          {}});
    }
  }
  for (const auto& text : args.positional) {
    auto account = existing_account(ctx, text);
    if (!account) return report(account.error());
    accounts.push_back(*account);
  }
  std::vector<std::optional<Secret>> passwords;
  for (const auto& account : accounts) {
    auto password = login_password(args, account);
    if (!password) return report(password.error());
    passwords.push_back(std::move(*password));
  }

  const bool as_json = args.has("json");
  auto& session = ctx.session;
  std::set<std::string> listening;
  int exit_code = kExitOk;
  ListenCalls describe(ctx);
  ScopedSubscription subscription(ctx.engine, [&](const app::Event& event) {
    if (as_json) {
      std::cout << dump_line(event_json(event)) << std::endl;
    } else {
      for (const auto& line : describe(event)) std::cout << line << std::endl;
    }
    if (!std::cout) {  // the reader went away (`sotto listen | head`): nothing left to do
      session.shut_down_async([&] { session.io().stop(); });
      return;
    }
    const auto* change = std::get_if<app::AccountStateChanged>(&event);
    if (change == nullptr || change->state != app::AccountState::failed) return;
    bool all_failed = std::all_of(listening.begin(), listening.end(), [&](const std::string& a) {
      return ctx.engine.state(a) == app::AccountState::failed;
    });
    if (all_failed) {
      exit_code = kExitError;
      session.shut_down_async([&] { session.io().stop(); });
    }
  });
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    const std::string& address = accounts[i].address;
    if (auto started = ctx.engine.connect(address, for_engine(passwords[i])); !started) {
      std::cerr << "sotto: " << address << ": " << started.error().message << '\n';
      continue;
    }
    listening.insert(address);
  }
  passwords.clear();
  if (listening.empty()) return kExitError;

  // Calls are answered (and ended, held...) by typing on standard input.
  LineSplitter lines([&](std::string& line) {
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    if (line == "/quit" || line == "quit") {
      return session.shut_down_async([&] { session.io().stop(); });
    }
    auto done = run_call_command(ctx.engine, line);
    if (!done) {
      std::cerr << "sotto: type answer, reject, busy, hangup, hold, resume, mute, unmute, "
                   "sas-confirm or sas-reset, each with a call's id when there are several "
                   "calls, or dtmf DIGITS [ID]\n";
    } else if (!*done) {
      report(done->error());
    }
  });
  std::optional<StdinReader> in;
  if (stdin_is_ours()) {
    in.emplace(
        session.io(), [&](std::string& data) { lines.feed(data); }, [&] { lines.finish(); });
  }
  session.on_interrupt([&] { session.shut_down_async([&] { session.io().stop(); }); });
  std::cerr << "Listening; press Ctrl-C to stop.\n";
  session.io().run();
  if (in) in->stop();
  session.drain();
  return exit_code;
}

}  // namespace sotto::cli
