// Private to sotto/app: the Engine's state, shared by engine.cpp (accounts,
// contacts, chats) and profile.cpp (the encrypted profile and history).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include <asio/steady_timer.hpp>

#include "sotto/app/app.h"
#include "sotto/app/call_media.h"
#include "sotto/app/packet_log.h"
#include "sotto/otr/otr.h"
#include "sotto/store/profile.h"

namespace sotto::app {

// "alice@example.org" for "sip:alice@example.org"; other text as it is.
std::string without_uri_scheme(std::string_view address);

struct StoredAccount {
  AccountSettings settings;
  std::string password;  // empty unless remembered
};

// One account's private conversations (chats.cpp).
struct OtrAccount {
  // What the engine asked for during a call, handled once the call returned
  // (libotr must not be re-entered from its own callbacks).
  struct Send {
    std::string to;
    std::string body;
  };
  using Output = std::variant<Send, otr::Event>;

  std::unique_ptr<otr::Engine> engine;
  std::vector<Output> pending;
  asio::steady_timer timer;
  // Peers whose own policy was read (and applied): whether they have one.
  std::map<std::string, bool> own_policy;
  std::map<std::string, std::set<std::string>> online;  // peer -> resources present
  std::map<std::string, std::string> resource;          // peer -> device last heard from
  std::set<std::string> private_peers;                  // encrypted or finished
  std::set<std::string> held_peers;                     // with messages held until private
  // peer -> (their instance tag, protocol version) of the current session.
  std::map<std::string, std::pair<std::uint32_t, int>> sessions;
  // Stanza id of the last body of a held message -> the message's id.
  std::map<std::string, std::string> aliases;
  std::string last_stanza;  // id of the last stanza the engine sent
  bool generating = false;
  std::vector<std::function<void(Result<std::string>)>> key_waiters;
  // Names this OtrAccount to a key generation running on a worker: a result
  // for an OtrAccount since dropped (and perhaps made again) is discarded.
  std::shared_ptr<int> epoch = std::make_shared<int>(0);

  explicit OtrAccount(asio::io_context& io) : timer(io) {}
};

struct Engine::Impl {
  asio::io_context& io;
  std::string profile_name;
  std::optional<std::filesystem::path> data_home;
  std::filesystem::path dir;
  std::optional<store::Profile> profile;
  bool opened = false;
  bool log_history = true;
  // Loaded from the profile when it unlocks; wiped when it locks.
  std::vector<StoredAccount> accounts;
  // The opt-in packet log; before `providers`, whose observers write to it.
  PacketLog packet_log;
  bool packet_logging = false;
  // The calls' audio (the media engine); before `providers`, which use it.
  std::unique_ptr<CallAudio> audio;
  std::map<std::string, std::unique_ptr<Provider>> providers;
  std::map<Subscription, std::function<void(const Event&)>> handlers;
  Subscription next_handler = 1;
  // Calls being logged: call id -> row in the call history (0: not logged).
  std::map<std::string, std::int64_t> call_rows;
  // Delivery states that arrived before their message was logged
  // (account, peer, id) -> state.
  std::map<std::tuple<std::string, std::string, std::string>, DeliveryState> early_states;
  // History written while handling one burst of network input shares one
  // transaction, committed once the io_context has run what was queued:
  // one fsync per burst instead of one per message.
  bool batch_open = false;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  // The thread deriving a key (Argon2id) for create/unlock/change, if any.
  std::thread key_worker;
  bool key_work_busy = false;
  // Private conversations, per account; made when first needed, dropped
  // (with every secret they hold) when the profile locks.
  std::map<std::string, std::unique_ptr<OtrAccount>> otr;
  OtrPolicy default_otr_policy = OtrPolicy::opportunistic;
  bool otr_keys_on_connect = true;
  // Threads generating OTR keys, by number.
  std::map<int, std::thread> otr_workers;
  int next_otr_worker = 0;
  // The id of the message being handed to OTR (names "require" holds).
  std::string otr_sending;
  // Why OTR refused the message being sent, if it did.
  std::string otr_refusal;

  Impl(asio::io_context& io_context, std::string name, std::optional<std::filesystem::path> home)
      : io(io_context), profile_name(std::move(name)), data_home(std::move(home)) {
    audio = std::make_unique<CallAudio>(io.get_executor(), [this](Event event) { emit(event); });
  }
  ~Impl() {
    if (key_worker.joinable()) key_worker.join();
    for (auto& [n, worker] : otr_workers) worker.join();
    otr.clear();
    flush_history();
    forget_accounts();
  }

  void emit(const Event& event);
  // Calls (calls.cpp): settings read when the profile unlocks, and the ZRTP
  // cache opened then; closed when it locks.
  Result<void> load_call_settings();
  void close_call_settings();
  // What providers report passes through here: OTR decrypts, swallows its
  // own traffic and renames delivery states before front ends see them.
  void on_provider_event(Event event);

  StoredAccount* find(const std::string& address);
  Provider* provider(const std::string& address);
  Result<Provider*> online_provider(const std::string& account);
  template <class Capability>
  Result<Capability*> capability(const std::string& account, std::string_view missing) {
    auto p = online_provider(account);
    if (!p) return tl::unexpected(p.error());
    auto* c = (*p)->get<Capability>();
    if (c == nullptr) return fail(Errc::not_supported, std::string(missing));
    return c;
  }
  Result<Roster*> roster(const std::string& account) {
    return capability<Roster>(account, "this account has no contact list");
  }
  std::unique_ptr<Provider> make_provider(const StoredAccount& account, std::string password);
  // Hangs up the account's calls (before it goes offline or the profile locks).
  void end_calls(const std::string& account);
  // The Telephony of the account that has the call `call`.
  Result<Telephony*> telephony_with(const std::string& call);

  // --- The packet log (engine.cpp)
  // The setting, read when the profile unlocks (from load()).
  Result<void> load_packet_logging();
  // Writes the account's traffic to its packet log while logging is on.
  PacketCapture::Observer packet_observer(const std::string& account);
  // Attaches packet_observer() to the provider, or detaches it, as the
  // setting says.
  void capture_packets(const std::string& account, Provider& provider);

  // --- profile.cpp
  // Also commits pending history first: whatever the caller does next sees,
  // and is ordered after, every message logged so far.
  Result<void> require_unlocked();
  // Opens the shared history transaction if none is open and schedules its
  // commit; false if history cannot be written now.
  bool begin_history_write();
  void flush_history();
  // Runs work() on key_worker, then finish(result) on the core thread.
  template <class R, class Work, class Finish>
  void off_core(Work work, Finish finish);
  // After the profile opens: accounts and settings into memory; the interim
  // profile.json imported and removed.
  Result<void> load();
  // Opens the profile with a key from the vault, then load(); locks it again
  // if that fails.
  Result<void> open_with(Result<store::DataKey> key);
  void forget_accounts();
  Result<void> persist(const StoredAccount& account);
  Result<void> unpersist(const std::string& address);
  // Logs what the event says happened, when logging is on for it.
  void record(const Event& event);
  bool logging_on(const std::string& account, const std::string& peer);
  // The contact's own switch (on unless turned off).
  Result<bool> contact_logging(const std::string& account, const std::string& peer);
  void log_sent(const std::string& account, const std::string& peer, const std::string& id,
                const std::string& body, bool encrypted);
  // A call row when a call starts, finished when it ends.
  void record_call(const CallInfo& call);

  // --- chats.cpp
  // The account's OTR state, made (keys and trust read from the profile)
  // when first needed.
  Result<OtrAccount*> otr_account(const std::string& account);
  OtrAccount* existing_otr(const std::string& account);
  // Runs f(engine), then what the engine asked for, then re-arms its timer.
  template <class F>
  auto otr_call(const std::string& account, OtrAccount& state, F f);
  void otr_dispatch(const std::string& account, OtrAccount& state);
  // The size OTR fragments messages at: what the account's transport carries.
  std::size_t otr_fragment_size(const std::string& account);
  // Applies otr_fragment_size() to the account's OTR state, if it has one.
  void otr_fit_messages(const std::string& account);
  std::string otr_protocol(const std::string& account);
  void otr_arm_timer(const std::string& account, OtrAccount& state);
  // The contact's own policy into the engine (once); an error means it is
  // unknown, and nothing may be sent on a guess.
  Result<void> otr_load_policy(const std::string& account, OtrAccount& state,
                               const std::string& peer);
  void otr_receive(MessageReceived message);
  Result<SentMessage> otr_send(const std::string& account, InstantMessaging& im, const Jid& to,
                               std::string body);
  // Ends the account's private conversations (before it goes offline).
  void otr_end_all(const std::string& account);
  void otr_forget(const std::string& account);  // the state, not the stored keys
  void generate_key(const std::string& account, std::function<void(Result<std::string>)> done);
  void finish_key(const std::string& account, const std::weak_ptr<int>& epoch,
                  otr::KeyGeneration generation, Result<void> calculated);
  void otr_announce_logging(const std::string& account, const std::string& peer);
  PrivacyChanged privacy_event(const std::string& account, OtrAccount& state,
                               const std::string& peer);
};

}  // namespace sotto::app
