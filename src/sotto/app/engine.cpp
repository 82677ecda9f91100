#include <algorithm>

#include "sotto/app/app.h"
#include "sotto/app/engine_impl.h"
#include "sotto/app/sip_provider.h"
#include "sotto/app/xmpp_provider.h"
#include "sotto/xmpp/xmpp.h"

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "app";
constexpr const char* kPacketLogging = "packet_logging";

Result<void> validate_pin(AccountSettings& settings) {
  if (settings.pinned_cert_sha256.empty()) return {};
  auto normalized = normalize_fingerprint(settings.pinned_cert_sha256);
  if (!normalized || normalized->size() != 64)
    return fail(Errc::invalid_argument, "a certificate fingerprint is 64 hex digits (SHA-256)");
  settings.pinned_cert_sha256 = *normalized;
  return {};
}

// A SIP address of record: user@domain. The user part keeps its case (it is
// case-sensitive in SIP); the domain is lower-cased.
Result<AccountSettings> validate_sip(AccountSettings settings) {
  settings.address = without_uri_scheme(settings.address);
  const std::string& address = settings.address;
  const auto at = address.find('@');
  const bool clean = std::none_of(address.begin(), address.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == ';' ||
           c == '/' || c == '?' || c == '"';
  });
  if (!clean || at == std::string::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string::npos ||
      address.find(':', at) != std::string::npos) {
    return fail(Errc::invalid_argument,
                "\"" + address + "\" is not a SIP address; it looks like user@domain");
  }
  settings.address = address.substr(0, at + 1) + ascii_lower(address.substr(at + 1));
  settings.transport = settings.transport.empty() ? "udp" : ascii_lower(settings.transport);
  if (settings.transport != "udp" && settings.transport != "tcp" && settings.transport != "tls")
    return fail(Errc::invalid_argument, "a SIP transport is udp, tcp or tls");
  if (settings.direct_tls)
    return fail(Errc::invalid_argument, "direct TLS is for XMPP; SIP over TLS is transport tls");
  if (auto pin = validate_pin(settings); !pin) return tl::unexpected(pin.error());
  return settings;
}

Result<AccountSettings> validate(AccountSettings settings) {
  if (settings.protocol == "sip") return validate_sip(std::move(settings));
  if (settings.protocol != "xmpp")
    return fail(Errc::not_supported,
                "an account's protocol is xmpp or sip, not \"" + settings.protocol + "\"");
  auto jid = Jid::parse(settings.address);
  if (!jid) return tl::unexpected(jid.error());
  if (jid->local().empty() || !jid->is_bare())
    return fail(
        Errc::invalid_argument,
        "\"" + settings.address + "\" is not an account address; it looks like name@server");
  settings.address = jid->bare_str();
  settings.transport.clear();
  settings.auth_user.clear();
  if (auto pin = validate_pin(settings); !pin) return tl::unexpected(pin.error());
  return settings;
}

}  // namespace

std::string_view to_string(AccountState state) {
  switch (state) {
    case AccountState::offline:
      return "offline";
    case AccountState::connecting:
      return "connecting";
    case AccountState::online:
      return "online";
    case AccountState::reconnecting:
      return "reconnecting";
    case AccountState::failed:
      return "failed";
  }
  return "?";
}

std::string_view to_string(Availability availability) {
  switch (availability) {
    case Availability::available:
      return "available";
    case Availability::chat:
      return "chat";
    case Availability::away:
      return "away";
    case Availability::xa:
      return "xa";
    case Availability::dnd:
      return "dnd";
    case Availability::offline:
      return "offline";
  }
  return "?";
}

std::optional<Availability> parse_availability(std::string_view text) {
  if (text == "available" || text == "online") return Availability::available;
  if (text == "chat") return Availability::chat;
  if (text == "away") return Availability::away;
  if (text == "xa" || text == "extended-away") return Availability::xa;
  if (text == "dnd" || text == "busy") return Availability::dnd;
  if (text == "offline") return Availability::offline;
  return std::nullopt;
}

std::string_view to_string(DeliveryState state) {
  switch (state) {
    case DeliveryState::queued:
      return "queued";
    case DeliveryState::sent:
      return "sent";
    case DeliveryState::delivered:
      return "delivered";
    case DeliveryState::failed:
      return "failed";
  }
  return "?";
}

void Engine::Impl::emit(const Event& event) {
  record(event);
  // Handlers may unsubscribe while we iterate: walk a snapshot of the ids.
  std::vector<Subscription> ids;
  for (const auto& [id, handler] : handlers) ids.push_back(id);
  for (Subscription id : ids) {
    auto it = handlers.find(id);
    if (it != handlers.end()) it->second(event);
  }
}

std::string without_uri_scheme(std::string_view address) {
  if (address.size() > 4 && (address[0] == 's' || address[0] == 'S') &&
      (address[1] == 'i' || address[1] == 'I') && (address[2] == 'p' || address[2] == 'P') &&
      address[3] == ':') {
    address.remove_prefix(4);
  }
  return std::string(address);
}

StoredAccount* Engine::Impl::find(const std::string& address) {
  const std::string key = without_uri_scheme(address);
  for (auto& account : accounts) {
    if (account.settings.address == key) return &account;
  }
  // Spelled differently: XMPP addresses compare without case.
  auto jid = Jid::parse(key);
  if (!jid) return nullptr;
  for (auto& account : accounts) {
    auto other = Jid::parse(account.settings.address);
    if (other && other->bare() == jid->bare()) return &account;
  }
  return nullptr;
}

Provider* Engine::Impl::provider(const std::string& address) {
  StoredAccount* account = find(address);
  auto it = providers.find(account != nullptr ? account->settings.address : address);
  return it == providers.end() ? nullptr : it->second.get();
}

Result<Provider*> Engine::Impl::online_provider(const std::string& account) {
  if (auto ok = require_unlocked(); !ok) return tl::unexpected(ok.error());
  Provider* p = provider(account);
  if (p == nullptr || p->state() != AccountState::online) {
    if (find(account) == nullptr) return fail(Errc::not_found, "no account " + account);
    return fail(Errc::not_connected, account + " is offline");
  }
  return p;
}

// ---------------------------------------------------------------------------
// The packet log

namespace {

void announce_packet_logging(const std::filesystem::path& dir) {
  log::warn(kLog, "packet logging is on: plain text in " + dir.string());
}

}  // namespace

Result<void> Engine::Impl::load_packet_logging() {
  packet_log.close();
  packet_log.set_dir(dir / "packets");
  auto setting = profile->setting(kPacketLogging);
  if (!setting) return tl::unexpected(setting.error());
  packet_logging = *setting && **setting == "1";
  if (packet_logging) announce_packet_logging(packet_log.dir());
  return {};
}

PacketCapture::Observer Engine::Impl::packet_observer(const std::string& account) {
  // A registration in flight may outlive the engine, or the setting.
  return [this, account, token = std::weak_ptr<int>(alive)](PacketDirection direction,
                                                            std::string_view text) {
    if (token.expired() || !packet_logging) return;
    packet_log.write(account, direction, text);
  };
}

void Engine::Impl::capture_packets(const std::string& account, Provider& provider) {
  if (auto* capture = provider.get<PacketCapture>()) {
    capture->set_packet_observer(packet_logging ? packet_observer(account) : nullptr);
  }
}

bool Engine::packet_logging() const { return impl_->packet_logging && unlocked(); }

std::filesystem::path Engine::packet_log_dir() const {
  return impl_->dir.empty() ? std::filesystem::path() : impl_->dir / "packets";
}

Result<void> Engine::set_packet_logging(bool on) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  if (auto saved = impl_->profile->set_setting(kPacketLogging, on ? "1" : "0"); !saved) {
    return saved;
  }
  const bool was_on = impl_->packet_logging;
  impl_->packet_logging = on;
  if (on && !was_on) announce_packet_logging(packet_log_dir());
  for (auto& [address, provider] : impl_->providers) impl_->capture_packets(address, *provider);
  if (!on) impl_->packet_log.close();
  return {};
}

// ---------------------------------------------------------------------------

std::unique_ptr<Provider> Engine::Impl::make_provider(const StoredAccount& account,
                                                      std::string password) {
  std::string address = account.settings.address;
  auto emit_event = [this](Event event) { on_provider_event(std::move(event)); };
  std::unique_ptr<Provider> made;
  if (account.settings.protocol == "sip") {
    made = std::make_unique<SipProvider>(io.get_executor(), account.settings, std::move(password),
                                         std::move(emit_event), *audio);
  } else {
    auto provider = std::make_unique<XmppProvider>(io.get_executor(), account.settings,
                                                   std::move(password), std::move(emit_event));
    provider->on_password_changed = [this, address](const std::string& new_password) {
      StoredAccount* stored = find(address);
      if (stored == nullptr || !stored->settings.remember_password) return;
      secure_wipe(stored->password);
      stored->password = new_password;
      if (auto saved = persist(*stored); !saved) log::error(kLog, saved.error().message);
    };
    made = std::move(provider);
  }
  capture_packets(address, *made);
  return made;
}

void Engine::Impl::end_calls(const std::string& account) {
  Provider* p = provider(account);
  auto* telephony = p ? p->get<Telephony>() : nullptr;
  if (telephony == nullptr) return;
  for (const CallInfo& call : telephony->calls()) {
    // Handlers of the events may take the account away: look it up again.
    p = provider(account);
    telephony = p ? p->get<Telephony>() : nullptr;
    if (telephony == nullptr) return;
    if (auto ended = telephony->hang_up(call.id); !ended)
      log::warn(kLog, "could not end a call: " + ended.error().message);
  }
}

Result<Telephony*> Engine::Impl::telephony_with(const std::string& call) {
  if (auto ok = require_unlocked(); !ok) return tl::unexpected(ok.error());
  for (auto& [address, provider] : providers) {
    auto* telephony = provider->get<Telephony>();
    if (telephony == nullptr) continue;
    for (const CallInfo& info : telephony->calls()) {
      if (info.id == call) return telephony;
    }
  }
  return fail(Errc::not_found, "there is no call " + call + " (it may have ended)");
}

Engine::Engine(asio::io_context& io, std::string profile,
               std::optional<std::filesystem::path> data_home)
    : impl_(std::make_unique<Impl>(io, std::move(profile), std::move(data_home))) {}

Engine::~Engine() {
  for (auto& [address, provider] : impl_->providers) provider->disconnect();
}

Engine::Subscription Engine::subscribe(std::function<void(const Event&)> handler) {
  Subscription id = impl_->next_handler++;
  impl_->handlers.emplace(id, std::move(handler));
  return id;
}

void Engine::unsubscribe(Subscription id) { impl_->handlers.erase(id); }

std::vector<AccountSettings> Engine::accounts() const {
  std::vector<AccountSettings> out;
  for (const auto& account : impl_->accounts) out.push_back(account.settings);
  return out;
}

Result<void> Engine::add_account(AccountSettings settings, std::string password) {
  if (auto ok = impl_->require_unlocked(); !ok) {
    secure_wipe(password);
    return ok;
  }
  auto valid = validate(std::move(settings));
  if (!valid) return tl::unexpected(valid.error());
  if (impl_->find(valid->address) != nullptr)
    return fail(Errc::already_exists, valid->address + " is already set up");
  StoredAccount account{std::move(*valid), {}};
  if (account.settings.remember_password) account.password = std::move(password);
  secure_wipe(password);
  if (auto saved = impl_->persist(account); !saved) {
    secure_wipe(account.password);
    return saved;
  }
  impl_->accounts.push_back(std::move(account));
  return {};
}

Result<void> Engine::update_account(AccountSettings settings) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  auto valid = validate(std::move(settings));
  if (!valid) return tl::unexpected(valid.error());
  StoredAccount* account = impl_->find(valid->address);
  if (account == nullptr) return fail(Errc::not_found, "no account " + valid->address);
  account->settings = std::move(*valid);
  if (!account->settings.remember_password) secure_wipe(account->password);
  return impl_->persist(*account);
}

Result<void> Engine::remove_account(const std::string& address) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  StoredAccount* account = impl_->find(address);
  if (account == nullptr) return fail(Errc::not_found, "no account " + address);
  const std::string key = account->settings.address;
  // Ending private conversations runs event handlers, which may change the
  // accounts and providers: look them up again afterwards.
  impl_->otr_end_all(key);
  impl_->otr_forget(key);
  if (auto it = impl_->providers.find(key); it != impl_->providers.end()) {
    it->second->disconnect();
    impl_->providers.erase(it);
  }
  if (auto removed = impl_->unpersist(key); !removed) return removed;
  if (StoredAccount* stored = impl_->find(key)) secure_wipe(stored->password);
  std::erase_if(impl_->accounts, [&](const StoredAccount& a) { return a.settings.address == key; });
  return {};
}

void Engine::register_account(AccountSettings settings, std::string password,
                              std::function<void(Result<void>)> done) {
  if (auto ok = impl_->require_unlocked(); !ok) return done(ok);
  auto valid = validate(std::move(settings));
  if (!valid) return done(tl::unexpected(valid.error()));
  if (valid->protocol != "xmpp") {
    return done(fail(Errc::not_supported,
                     "only XMPP accounts can be created from Sotto; a " + valid->protocol +
                         " account is made with its provider, then added here"));
  }
  if (impl_->find(valid->address) != nullptr)
    return done(fail(Errc::already_exists, valid->address + " is already set up here"));
  if (password.empty()) return done(fail(Errc::invalid_argument, "the password is empty"));
  xmpp::Credentials credentials;
  credentials.jid = *Jid::parse(valid->address);
  credentials.password = password;
  xmpp::ServerSettings server;
  server.host = valid->host;
  server.port = valid->port;
  server.direct_tls = valid->direct_tls;
  server.pinned_sha256 = valid->pinned_cert_sha256;
  xmpp::TrafficObserver observer;
  if (impl_->packet_logging) {
    observer = [write = impl_->packet_observer(valid->address)](xmpp::Direction direction,
                                                                std::string_view text) {
      write(direction == xmpp::Direction::send ? PacketDirection::send : PacketDirection::receive,
            text);
    };
  }
  xmpp::register_account(
      impl_->io.get_executor(), std::move(credentials), std::move(server),
      [this, settings = std::move(*valid), password = std::move(password),
       done = std::move(done)](Result<void> result) mutable {
        if (result) result = add_account(std::move(settings), std::move(password));
        secure_wipe(password);
        done(std::move(result));
      },
      std::move(observer));
}

Result<void> Engine::connect(const std::string& address, std::optional<std::string> password,
                             Availability availability, std::string status) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  StoredAccount* account = impl_->find(address);
  if (account == nullptr) return fail(Errc::not_found, "no account " + address);
  const std::string key = account->settings.address;
  auto it = impl_->providers.find(key);
  if (it != impl_->providers.end()) {
    AccountState state = it->second->state();
    if (state == AccountState::online || state == AccountState::connecting ||
        state == AccountState::reconnecting) {
      return {};
    }
  }
  std::string secret;
  if (password) {
    secret = std::move(*password);
  } else if (account->settings.remember_password && !account->password.empty()) {
    secret = account->password;
  } else {
    return fail(Errc::auth, "the password for " + key + " is needed (it is not remembered)");
  }
  Provider* p = nullptr;
  if (it != impl_->providers.end()) {
    // Offline or failed: the same provider goes again, with what may have
    // changed since (a pinned certificate, a password), and keeps the
    // messages it has not delivered to the server yet.
    p = it->second.get();
    p->reconfigure(account->settings, std::move(secret));
  } else {
    auto provider = impl_->make_provider(*account, std::move(secret));
    p = provider.get();
    impl_->providers.emplace(key, std::move(provider));
    impl_->otr_fit_messages(key);
  }
  p->connect(availability, std::move(status));
  return {};
}

void Engine::disconnect(const std::string& address) {
  Provider* p = impl_->provider(address);
  if (p == nullptr) return;
  // Tell the contacts first, while the stream still carries it.
  const std::string account = p->account();
  impl_->end_calls(account);
  impl_->otr_end_all(account);
  if ((p = impl_->provider(account)) != nullptr) p->disconnect();
}

void Engine::disconnect_all() {
  std::vector<std::string> addresses;
  for (const auto& [address, provider] : impl_->providers) addresses.push_back(address);
  for (const std::string& address : addresses) {
    impl_->end_calls(address);
    impl_->otr_end_all(address);
    if (Provider* p = impl_->provider(address)) p->disconnect();
  }
}

void Engine::change_password(const std::string& address, std::string new_password,
                             std::function<void(Result<void>)> done) {
  if (new_password.empty()) return done(fail(Errc::invalid_argument, "the new password is empty"));
  auto change = impl_->capability<PasswordChange>(
      address,
      "this account cannot change its password from Sotto; change it where the account was "
      "made (SIP has no way to do it), then connect with the new one");
  if (!change) return done(tl::unexpected(change.error()));
  (*change)->change_password(std::move(new_password), std::move(done));
}

Result<void> Engine::pin_certificate(const std::string& address, std::string sha256) {
  StoredAccount* account = impl_->find(address);
  if (account == nullptr) return fail(Errc::not_found, "no account " + address);
  AccountSettings settings = account->settings;
  settings.pinned_cert_sha256 = std::move(sha256);
  return update_account(std::move(settings));
}

AccountState Engine::state(const std::string& address) const {
  Provider* p = impl_->provider(address);
  return p ? p->state() : AccountState::offline;
}

Provider* Engine::provider(const std::string& address) { return impl_->provider(address); }

Result<std::vector<Contact>> Engine::contacts(const std::string& account) {
  auto roster = impl_->roster(account);
  if (!roster) return tl::unexpected(roster.error());
  return (*roster)->contacts();
}

void Engine::add_contact(const std::string& account, const std::string& address, std::string name,
                         std::vector<std::string> groups, std::function<void(Result<void>)> done) {
  auto roster = impl_->roster(account);
  if (!roster) return done(tl::unexpected(roster.error()));
  (*roster)->add_contact(address, std::move(name), std::move(groups), std::move(done));
}

void Engine::update_contact(const std::string& account, const std::string& address,
                            std::string name, std::vector<std::string> groups,
                            std::function<void(Result<void>)> done) {
  auto roster = impl_->roster(account);
  if (!roster) return done(tl::unexpected(roster.error()));
  (*roster)->update_contact(address, std::move(name), std::move(groups), std::move(done));
}

void Engine::remove_contact(const std::string& account, const std::string& address,
                            std::function<void(Result<void>)> done) {
  auto roster = impl_->roster(account);
  if (!roster) return done(tl::unexpected(roster.error()));
  (*roster)->remove_contact(address, std::move(done));
}

Result<void> Engine::authorize(const std::string& account, const std::string& address) {
  auto jid = Jid::parse(address);
  if (!jid) return tl::unexpected(jid.error());
  auto roster = impl_->roster(account);
  if (!roster) return tl::unexpected(roster.error());
  (*roster)->authorize(jid->bare_str());
  return {};
}

Result<void> Engine::deny(const std::string& account, const std::string& address) {
  auto jid = Jid::parse(address);
  if (!jid) return tl::unexpected(jid.error());
  auto roster = impl_->roster(account);
  if (!roster) return tl::unexpected(roster.error());
  (*roster)->deny(jid->bare_str());
  return {};
}

Result<std::vector<std::string>> Engine::pending_requests(const std::string& account) {
  auto roster = impl_->roster(account);
  if (!roster) return tl::unexpected(roster.error());
  return (*roster)->pending_requests();
}

Result<void> Engine::set_presence(const std::string& account, Availability availability,
                                  std::string status) {
  auto presence = impl_->capability<PresenceCapability>(account, "this account has no presence");
  if (!presence) return tl::unexpected(presence.error());
  (*presence)->set_presence(availability, std::move(status));
  return {};
}

Result<SentMessage> Engine::send_message(const std::string& account, const std::string& to,
                                         std::string body) {
  auto jid = Jid::parse(without_uri_scheme(to));
  if (!jid) return tl::unexpected(jid.error());
  if (body.empty()) return fail(Errc::invalid_argument, "the message is empty");
  Provider* p = impl_->provider(account);
  if (p == nullptr) {
    if (impl_->find(account) == nullptr) return fail(Errc::not_found, "no account " + account);
    return fail(Errc::not_connected, account + " is offline");
  }
  // Queued while connecting or reconnecting: the outbox sends it when online.
  if (p->state() == AccountState::failed || p->state() == AccountState::offline)
    return fail(Errc::not_connected, account + " is offline");
  auto* im = p->get<InstantMessaging>();
  if (im == nullptr) return fail(Errc::not_supported, "this account cannot send messages");
  if (jid->local().empty()) {
    secure_wipe(body);
    return fail(Errc::invalid_argument, "\"" + to + "\" is not a contact's address");
  }
  return impl_->otr_send(p->account(), *im, *jid, std::move(body));
}

std::size_t Engine::unacknowledged_messages() const {
  std::size_t count = 0;
  for (const auto& [address, provider] : impl_->providers) {
    if (auto* im = provider->get<InstantMessaging>()) count += im->unacknowledged_messages();
  }
  return count;
}

}  // namespace sotto::app

namespace sotto::app {

// ---------------------------------------------------------------------------
// Calls

std::string_view to_string(CallState state) {
  switch (state) {
    case CallState::calling:
      return "calling";
    case CallState::ringing:
      return "ringing";
    case CallState::incoming:
      return "incoming";
    case CallState::active:
      return "active";
    case CallState::ended:
      return "ended";
  }
  return "?";
}

std::string_view to_string(CallEndReason reason) {
  switch (reason) {
    case CallEndReason::hung_up:
      return "hung_up";
    case CallEndReason::remote_hung_up:
      return "remote_hung_up";
    case CallEndReason::cancelled:
      return "cancelled";
    case CallEndReason::busy:
      return "busy";
    case CallEndReason::declined:
      return "declined";
    case CallEndReason::no_answer:
      return "no_answer";
    case CallEndReason::not_found:
      return "not_found";
    case CallEndReason::unacceptable:
      return "unacceptable";
    case CallEndReason::failed:
      return "failed";
  }
  return "?";
}

Result<std::string> Engine::call(const std::string& account, const std::string& to) {
  auto telephony = impl_->capability<Telephony>(account, "this account cannot make calls");
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->call(to);
}

Result<void> Engine::answer_call(const std::string& id) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->answer(id);
}

Result<void> Engine::reject_call(const std::string& id, bool busy) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->reject(id, busy);
}

Result<void> Engine::hang_up(const std::string& id) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->hang_up(id);
}

Result<void> Engine::hold_call(const std::string& id, bool on) {
  auto telephony = impl_->telephony_with(id);
  if (!telephony) return tl::unexpected(telephony.error());
  return (*telephony)->hold(id, on);
}

std::vector<CallInfo> Engine::calls() const {
  std::vector<CallInfo> out;
  for (const auto& [address, provider] : impl_->providers) {
    if (auto* telephony = provider->get<Telephony>()) {
      auto calls = telephony->calls();
      out.insert(out.end(), calls.begin(), calls.end());
    }
  }
  return out;
}

}  // namespace sotto::app
