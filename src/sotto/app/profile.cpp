// The Engine's encrypted profile: opening, locking, the master password,
// accounts at rest, the interim profile.json import, and history.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "sotto/app/engine_impl.h"

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "profile";
constexpr const char* kInterimFile = "profile.json";
constexpr const char* kLogHistory = "log_history";

using Clock = std::chrono::system_clock;

std::int64_t to_ms(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

Clock::time_point from_ms(std::int64_t ms) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

std::string settings_json(const AccountSettings& s) {
  nlohmann::json json{{"host", s.host},
                      {"port", s.port},
                      {"direct_tls", s.direct_tls},
                      {"pinned_cert_sha256", s.pinned_cert_sha256},
                      {"remember_password", s.remember_password}};
  if (!s.transport.empty()) json["transport"] = s.transport;
  if (!s.auth_user.empty()) json["auth_user"] = s.auth_user;
  return json.dump();
}

AccountSettings parse_settings(const store::AccountRecord& record) {
  AccountSettings s;
  s.protocol = record.protocol;
  s.address = record.address;
  auto json = nlohmann::json::parse(record.settings, nullptr, false);
  if (json.is_object()) {
    s.host = json.value("host", "");
    s.port = json.value("port", uint16_t{0});
    s.direct_tls = json.value("direct_tls", false);
    s.pinned_cert_sha256 = json.value("pinned_cert_sha256", "");
    s.remember_password = json.value("remember_password", false);
    s.transport = json.value("transport", s.protocol == "sip" ? "udp" : "");
    s.auth_user = json.value("auth_user", "");
  } else if (s.protocol != "sip") {
    s.transport.clear();
  }
  return s;
}

// The first issue's interim profile: a JSON file with accounts and, for those
// that remembered one, the password in plain text.
std::vector<StoredAccount> read_interim(const std::filesystem::path& file) {
  std::vector<StoredAccount> accounts;
  std::ifstream in(file);
  if (!in) return accounts;
  std::stringstream text;
  text << in.rdbuf();
  std::string content = text.str();
  auto json = nlohmann::json::parse(content, nullptr, false);
  secure_wipe(content);
  if (json.is_discarded() || !json.is_object()) {
    log::warn(kLog, "the old profile file is damaged; nothing imported from it");
    return accounts;
  }
  for (const auto& a : json.value("accounts", nlohmann::json::array())) {
    if (!a.is_object()) continue;
    StoredAccount account;
    account.settings.protocol = a.value("protocol", "xmpp");
    account.settings.address = a.value("address", "");
    account.settings.host = a.value("host", "");
    account.settings.port = a.value("port", uint16_t{0});
    account.settings.direct_tls = a.value("direct_tls", false);
    account.settings.pinned_cert_sha256 = a.value("pinned_cert_sha256", "");
    account.settings.remember_password = a.value("remember_password", false);
    if (account.settings.remember_password) account.password = a.value("password", "");
    if (!account.settings.address.empty()) accounts.push_back(std::move(account));
  }
  return accounts;
}

// Overwrites a file that held secrets with zeros before unlinking it. On a
// copy-on-write or journaling file system the old blocks may survive; the
// point is that no file of ours still holds them.
void shred(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      std::string zeros(static_cast<std::size_t>(st.st_size), '\0');
      std::size_t written = 0;
      while (written < zeros.size()) {
        const ssize_t n = ::write(fd, zeros.data() + written, zeros.size() - written);
        if (n <= 0) break;
        written += static_cast<std::size_t>(n);
      }
      ::fsync(fd);
    }
    ::close(fd);
  }
  std::error_code ec;
  std::filesystem::remove(file, ec);
}

HistoryMessage to_history(store::MessageRecord&& m) {
  HistoryMessage h;
  h.row = m.row;
  h.account = std::move(m.account);
  h.peer = std::move(m.peer);
  h.resource = std::move(m.resource);
  h.id = std::move(m.message_id);
  h.body = std::move(m.body);
  h.time = from_ms(m.time_ms);
  h.outgoing = m.outgoing;
  h.encrypted = m.encrypted;
  if (m.outgoing) h.state = parse_delivery_state(m.state);
  return h;
}

Result<std::vector<HistoryMessage>> to_history(Result<std::vector<store::MessageRecord>> records) {
  if (!records) return tl::unexpected(records.error());
  std::vector<HistoryMessage> out;
  out.reserve(records->size());
  for (auto& m : *records) out.push_back(to_history(std::move(m)));
  return out;
}

ProfileProtection from_store(store::KeyProtection protection) {
  switch (protection) {
    case store::KeyProtection::master_password:
      return ProfileProtection::master_password;
    case store::KeyProtection::keyring:
      return ProfileProtection::keyring;
    case store::KeyProtection::key_file:
      return ProfileProtection::key_file;
  }
  return ProfileProtection::key_file;
}

// A conversation as history keys it: the account and the peer, both bare.
Result<std::pair<std::string, std::string>> conversation_key(const std::string& account,
                                                             const std::string& peer) {
  auto own = Jid::parse(account);
  if (!own) return tl::unexpected(own.error());
  auto other = Jid::parse(peer);
  if (!other) return tl::unexpected(other.error());
  return std::make_pair(own->bare_str(), other->bare_str());
}

void wipe(std::optional<std::string>& secret) {
  if (secret) secure_wipe(*secret);
}

}  // namespace

std::string_view to_string(ProfileProtection protection) {
  switch (protection) {
    case ProfileProtection::none:
      return "none";
    case ProfileProtection::master_password:
      return "master-password";
    case ProfileProtection::keyring:
      return "keyring";
    case ProfileProtection::key_file:
      return "key-file";
  }
  return "?";
}

std::optional<DeliveryState> parse_delivery_state(std::string_view text) {
  for (auto state : {DeliveryState::queued, DeliveryState::sent, DeliveryState::delivered,
                     DeliveryState::failed}) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Impl

Result<void> Engine::Impl::require_unlocked() {
  if (!profile) return fail(Errc::not_allowed, "the profile is not open");
  if (!profile->is_open()) return fail(Errc::not_allowed, "the profile is locked");
  flush_history();
  return {};
}

bool Engine::Impl::begin_history_write() {
  if (batch_open) return true;
  if (auto begun = profile->begin_batch(); !begun) {
    log::warn(kLog, "could not write history: " + begun.error().message);
    return false;
  }
  batch_open = true;
  asio::post(io, [this, token = std::weak_ptr<int>(alive)] {
    if (token.lock()) flush_history();
  });
  return true;
}

void Engine::Impl::flush_history() {
  if (!batch_open) return;
  batch_open = false;
  if (auto committed = profile->commit_batch(); !committed) {
    log::warn(kLog, "could not write history: " + committed.error().message);
    profile->rollback_batch();
  }
}

Result<void> Engine::Impl::load() {
  forget_accounts();
  auto records = profile->accounts();
  if (!records) return tl::unexpected(records.error());
  for (auto& record : *records) {
    StoredAccount account{parse_settings(record), {}};
    if (account.settings.remember_password && record.password) {
      account.password = std::move(*record.password);
    }
    if (record.password) secure_wipe(*record.password);
    accounts.push_back(std::move(account));
  }
  auto setting = profile->setting(kLogHistory);
  if (!setting) return tl::unexpected(setting.error());
  log_history = !*setting || **setting != "0";
  auto policy = profile->setting("otr_policy");
  if (!policy) return tl::unexpected(policy.error());
  default_otr_policy = OtrPolicy::opportunistic;
  if (*policy) {
    if (auto parsed = parse_otr_policy(**policy)) default_otr_policy = *parsed;
  }
  if (auto packets = load_packet_logging(); !packets) return packets;
  if (auto calls = load_call_settings(); !calls) return calls;

  const auto interim = dir / kInterimFile;
  if (std::filesystem::exists(interim)) {
    auto imported = read_interim(interim);
    std::size_t count = 0;
    for (auto& account : imported) {
      if (find(account.settings.address) != nullptr) {
        secure_wipe(account.password);
        continue;
      }
      if (auto saved = persist(account); !saved) {
        for (auto& a : imported) secure_wipe(a.password);
        return saved;
      }
      accounts.push_back(std::move(account));
      ++count;
    }
    shred(interim);
    std::error_code ec;
    std::filesystem::remove(dir / (std::string(kInterimFile) + ".tmp"), ec);
    log::info(kLog, "imported " + std::to_string(count) +
                        " account(s) from the old profile file into the encrypted profile");
  }
  return {};
}

Result<void> Engine::Impl::open_with(Result<store::DataKey> key) {
  if (!key) return tl::unexpected(key.error());
  if (profile->is_open()) return {};
  if (auto opened = profile->open_with(std::move(*key)); !opened) return opened;
  if (auto loaded = load(); !loaded) {
    profile->lock();
    return loaded;
  }
  return {};
}

void Engine::Impl::forget_accounts() {
  for (auto& account : accounts) secure_wipe(account.password);
  accounts.clear();
}

Result<void> Engine::Impl::persist(const StoredAccount& account) {
  if (auto ok = require_unlocked(); !ok) return ok;
  store::AccountRecord record;
  record.address = account.settings.address;
  record.protocol = account.settings.protocol;
  record.settings = settings_json(account.settings);
  if (account.settings.remember_password && !account.password.empty()) {
    record.password = account.password;
  }
  auto saved = profile->put_account(record);
  if (record.password) secure_wipe(*record.password);
  return saved;
}

Result<void> Engine::Impl::unpersist(const std::string& address) {
  if (auto ok = require_unlocked(); !ok) return ok;
  return profile->remove_account(address);
}

Result<bool> Engine::Impl::contact_logging(const std::string& account, const std::string& peer) {
  auto own = profile->contact_setting(account, peer, kLogHistory);
  if (!own) return tl::unexpected(own.error());
  return !*own || **own != "0";
}

bool Engine::Impl::logging_on(const std::string& account, const std::string& peer) {
  if (!log_history || !profile || !profile->is_open()) return false;
  auto own = contact_logging(account, peer);
  if (!own) {
    log::warn(kLog, "could not read a history setting: " + own.error().message);
    return false;  // when in doubt, write nothing
  }
  return *own;
}

void Engine::Impl::log_sent(const std::string& account, const std::string& peer,
                            const std::string& id, const std::string& body, bool encrypted) {
  store::MessageRecord m;
  m.account = account;
  m.peer = peer;
  m.message_id = id;
  m.outgoing = true;
  m.time_ms = to_ms(Clock::now());
  m.body = body;
  m.encrypted = encrypted;
  m.state = std::string(to_string(DeliveryState::queued));
  auto key = std::make_tuple(account, peer, id);
  if (auto early = early_states.find(key); early != early_states.end()) {
    m.state = std::string(to_string(early->second));
    early_states.erase(early);
  }
  if (!begin_history_write()) return secure_wipe(m.body);
  auto stored = profile->add_message(m);
  secure_wipe(m.body);
  if (!stored) log::warn(kLog, "could not log a sent message: " + stored.error().message);
}

void Engine::Impl::record(const Event& event) {
  if (!profile || !profile->is_open()) return;
  if (const auto* received = std::get_if<MessageReceived>(&event)) {
    if (!logging_on(received->account, received->peer)) return;
    store::MessageRecord m;
    m.account = received->account;
    m.peer = received->peer;
    m.resource = received->resource;
    m.message_id = received->id;
    m.outgoing = received->outgoing;
    m.time_ms = to_ms(received->time);
    m.body = received->body;
    m.encrypted = received->encrypted;
    if (received->outgoing) m.state = std::string(to_string(DeliveryState::sent));
    if (!begin_history_write()) return secure_wipe(m.body);
    auto stored = profile->add_message(m);
    secure_wipe(m.body);
    if (!stored) log::warn(kLog, "could not log a message: " + stored.error().message);
  } else if (const auto* call = std::get_if<CallChanged>(&event)) {
    record_call(call->call);
  } else if (const auto* changed = std::get_if<MessageStateChanged>(&event)) {
    if (changed->state == DeliveryState::queued) return;
    if (!begin_history_write()) return;
    auto updated = profile->set_message_state(changed->account, changed->peer, changed->id,
                                              to_string(changed->state));
    if (!updated) {
      log::warn(kLog, "could not log a delivery state: " + updated.error().message);
    } else if (!*updated && log_history) {
      // The state can overtake its message (a send that fails at once).
      if (early_states.size() > 1000) early_states.clear();
      early_states[std::make_tuple(changed->account, changed->peer, changed->id)] = changed->state;
    }
  }
}

void Engine::Impl::record_call(const CallInfo& call) {
  auto it = call_rows.find(call.id);
  if (it == call_rows.end()) {
    std::int64_t row = 0;
    if (logging_on(call.account, call.peer) && begin_history_write()) {
      store::CallRecord record;
      record.account = call.account;
      record.peer = call.peer;
      record.outgoing = call.outgoing;
      record.start_ms = to_ms(call.start);
      auto added = profile->add_call(record);
      if (added) {
        row = *added;
      } else {
        log::warn(kLog, "could not log a call: " + added.error().message);
      }
    }
    it = call_rows.emplace(call.id, row).first;
  }
  if (call.state != CallState::ended) return;
  const std::int64_t row = it->second;
  call_rows.erase(it);
  if (row == 0 || !begin_history_write()) return;
  if (auto finished = profile->finish_call(row, to_ms(Clock::now()), call.end_text,
                                           call.encryption == CallEncryption::secure);
      !finished) {
    log::warn(kLog, "could not log the end of a call: " + finished.error().message);
  }
}

// ---------------------------------------------------------------------------
// Engine: the profile

Result<void> Engine::open() {
  if (impl_->opened) return {};
  if (impl_->data_home) {
    std::error_code ec;
    impl_->dir = *impl_->data_home / "sotto" / impl_->profile_name;
    std::filesystem::create_directories(impl_->dir, ec);
    if (ec) return fail(Errc::io, "could not create " + impl_->dir.string() + ": " + ec.message());
    ::chmod(impl_->dir.c_str(), 0700);
  } else {
    auto dir = paths::profile_dir(impl_->profile_name, true);
    if (!dir) return tl::unexpected(dir.error());
    impl_->dir = *dir;
  }
  impl_->profile.emplace(impl_->dir);
  impl_->opened = true;
  auto protection = impl_->profile->protection();
  if (!protection) return tl::unexpected(protection.error());
  if (!*protection || **protection == store::KeyProtection::master_password) return {};
  return impl_->open_with(store::Profile::read_key(impl_->dir, std::nullopt));
}

const std::filesystem::path& Engine::profile_dir() const { return impl_->dir; }

ProfileProtection Engine::protection() const {
  if (!impl_->profile) return ProfileProtection::none;
  auto protection = impl_->profile->protection();
  if (!protection || !*protection) return ProfileProtection::none;
  return from_store(**protection);
}

bool Engine::unlocked() const { return impl_->profile && impl_->profile->is_open(); }

template <class R, class Work, class Finish>
void Engine::Impl::off_core(Work work, Finish finish) {
  if (key_work_busy) {
    return finish(R(fail(Errc::not_allowed, "the profile's key is being changed; try again")));
  }
  key_work_busy = true;
  if (key_worker.joinable()) key_worker.join();
  key_worker =
      std::thread([this, work = std::move(work), finish = std::move(finish),
                   token = std::weak_ptr<int>(alive), executor = io.get_executor()]() mutable {
        R result = work();
        asio::post(executor,
                   [this, token, result = std::move(result), finish = std::move(finish)]() mutable {
                     if (!token.lock()) return;  // the engine is gone
                     key_work_busy = false;
                     finish(std::move(result));
                   });
      });
}

void Engine::create_profile(std::optional<std::string> master_password,
                            std::function<void(Result<void>)> done) {
  if (!impl_->profile) {
    wipe(master_password);
    return done(fail(Errc::not_allowed, "the profile is not open"));
  }
  impl_->off_core<Result<store::DataKey>>(
      [dir = impl_->dir, password = std::move(master_password)]() mutable {
        auto key = store::Profile::new_key(dir, password);
        wipe(password);
        return key;
      },
      [this, done = std::move(done)](Result<store::DataKey> key) {
        done(impl_->open_with(std::move(key)));
      });
}

void Engine::unlock(std::string master_password, std::function<void(Result<void>)> done) {
  if (!impl_->profile || impl_->profile->is_open()) {
    secure_wipe(master_password);
    return done(impl_->profile ? Result<void>()
                               : fail(Errc::not_allowed, "the profile is not open"));
  }
  impl_->off_core<Result<store::DataKey>>(
      [dir = impl_->dir, password = std::move(master_password)]() mutable {
        auto key = store::Profile::read_key(dir, password);
        secure_wipe(password);
        return key;
      },
      [this, done = std::move(done)](Result<store::DataKey> key) {
        done(impl_->open_with(std::move(key)));
      });
}

void Engine::lock() {
  std::vector<std::string> addresses;
  for (const auto& [address, provider] : impl_->providers) addresses.push_back(address);
  for (const std::string& address : addresses) impl_->end_calls(address);
  for (const std::string& address : addresses) impl_->otr_end_all(address);
  for (auto& [address, provider] : impl_->providers) provider->disconnect();
  impl_->providers.clear();
  while (!impl_->otr.empty()) impl_->otr_forget(impl_->otr.begin()->first);
  impl_->flush_history();
  impl_->forget_accounts();
  impl_->early_states.clear();
  impl_->call_rows.clear();
  impl_->packet_log.close();
  impl_->close_call_settings();
  if (impl_->profile) impl_->profile->lock();
}

void Engine::change_master_password(std::optional<std::string> current,
                                    std::optional<std::string> next,
                                    std::function<void(Result<void>)> done) {
  if (!impl_->profile) {
    wipe(current);
    wipe(next);
    return done(fail(Errc::not_allowed, "the profile is not open"));
  }
  impl_->off_core<Result<void>>(
      [dir = impl_->dir, current = std::move(current), next = std::move(next)]() mutable {
        auto result = store::Profile::rewrap_key(dir, current, next);
        wipe(current);
        wipe(next);
        return result;
      },
      [done = std::move(done)](Result<void> result) { done(std::move(result)); });
}

Result<ProfileInfo> Engine::profile_info() {
  ProfileInfo info;
  info.dir = impl_->dir;
  info.protection = protection();
  info.unlocked = unlocked();
  info.log_history = impl_->log_history;
  if (info.unlocked) {
    auto counts = impl_->profile->counts();
    if (!counts) return tl::unexpected(counts.error());
    info.accounts = counts->accounts;
    info.messages = counts->messages;
    info.calls = counts->calls;
    info.bytes_on_disk = counts->bytes_on_disk;
  }
  return info;
}

Result<void> Engine::check_profile() {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  return impl_->profile->check();
}

// ---------------------------------------------------------------------------
// Engine: history

bool Engine::log_history() const { return impl_->log_history; }

Result<void> Engine::set_log_history(bool on) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  if (auto saved = impl_->profile->set_setting(kLogHistory, on ? "1" : "0"); !saved) return saved;
  impl_->log_history = on;
  impl_->otr_announce_logging({}, {});  // "this conversation is being logged" changed
  return {};
}

Result<bool> Engine::contact_log_history(const std::string& account, const std::string& peer) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto key = conversation_key(account, peer);
  if (!key) return tl::unexpected(key.error());
  return impl_->contact_logging(key->first, key->second);
}

Result<void> Engine::set_contact_log_history(const std::string& account, const std::string& peer,
                                             bool on) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  if (impl_->find(account) == nullptr) return fail(Errc::not_found, "no account " + account);
  auto key = conversation_key(account, peer);
  if (!key) return tl::unexpected(key.error());
  auto saved = impl_->profile->set_contact_setting(
      key->first, key->second, kLogHistory, on ? std::nullopt : std::optional<std::string>("0"));
  if (saved) impl_->otr_announce_logging(key->first, key->second);
  return saved;
}

Result<std::vector<HistoryMessage>> Engine::history(const std::string& account,
                                                    const std::string& peer,
                                                    std::optional<std::int64_t> before,
                                                    std::size_t limit) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto key = conversation_key(account, peer);
  if (!key) return tl::unexpected(key.error());
  return to_history(impl_->profile->conversation(key->first, key->second, before, limit));
}

Result<std::vector<ConversationSummary>> Engine::conversations() {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto records = impl_->profile->conversations();
  if (!records) return tl::unexpected(records.error());
  std::vector<ConversationSummary> out;
  for (auto& c : *records) {
    out.push_back({std::move(c.account), std::move(c.peer), c.messages, from_ms(c.last_time_ms)});
  }
  return out;
}

Result<std::vector<HistoryMessage>> Engine::search_history(const std::string& words,
                                                           std::size_t limit) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  return to_history(impl_->profile->search(words, limit));
}

Result<std::int64_t> Engine::delete_history(const std::string& account, const std::string& peer) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto key = conversation_key(account, peer);
  if (!key) return tl::unexpected(key.error());
  return impl_->profile->delete_conversation(key->first, key->second);
}

Result<std::int64_t> Engine::delete_all_history() {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  return impl_->profile->delete_all_messages();
}

Result<std::vector<CallEntry>> Engine::call_history(std::size_t limit) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto records = impl_->profile->calls(limit);
  if (!records) return tl::unexpected(records.error());
  std::vector<CallEntry> out;
  for (auto& c : *records) {
    CallEntry e;
    e.row = c.row;
    e.account = std::move(c.account);
    e.peer = std::move(c.peer);
    e.outgoing = c.outgoing;
    e.start = from_ms(c.start_ms);
    if (c.end_ms != 0) e.end = from_ms(c.end_ms);
    e.reason = std::move(c.reason);
    e.secured = c.secured;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::int64_t> Engine::delete_call_history() {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  return impl_->profile->delete_calls();
}

}  // namespace sotto::app
