// sotto/app: the protocol-agnostic services every front end uses.
//
// Engine owns the profile (accounts and settings), one Provider per account,
// and a single typed event stream. Front ends (the CLI, `sotto rpc`, later the
// desktop app) call Engine on the core thread (the thread running the
// io_context) and subscribe to events; they never see a protocol type.
//
// What an account can do is a capability, looked up at run time:
//   if (auto* im = provider.get<InstantMessaging>()) im->send(...);
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <variant>
#include <vector>

#include <asio/io_context.hpp>

#include "sotto/base/base.h"

namespace sotto::app {

// ---------------------------------------------------------------------------
// Plain data the front ends see

enum class AccountState { offline, connecting, online, reconnecting, failed };
std::string_view to_string(AccountState state);

enum class Availability { available, chat, away, xa, dnd, offline };
std::string_view to_string(Availability availability);
std::optional<Availability> parse_availability(std::string_view text);

struct AccountSettings {
  std::string protocol = "xmpp";
  std::string address;  // bare JID
  std::string host;     // server override; empty = DNS SRV
  uint16_t port = 0;
  bool direct_tls = false;
  std::string pinned_cert_sha256;
  bool remember_password = false;
};

struct Contact {
  std::string account;
  std::string address;  // bare
  std::string name;
  std::vector<std::string> groups;
  std::string subscription;  // none / to / from / both
  bool waiting_for_authorization = false;
  Availability availability = Availability::offline;  // best resource
  std::string status;
};

enum class DeliveryState { queued, sent, delivered, failed };
std::string_view to_string(DeliveryState state);
std::optional<DeliveryState> parse_delivery_state(std::string_view text);

// The encrypted profile and its history (see docs/storage.md).

// What guards the profile's data key; `none` while the profile does not exist.
enum class ProfileProtection { none, master_password, keyring, key_file };
std::string_view to_string(ProfileProtection protection);

struct ProfileInfo {
  std::filesystem::path dir;
  ProfileProtection protection = ProfileProtection::none;
  bool unlocked = false;
  bool log_history = true;  // the global switch
  // Known only while unlocked:
  std::int64_t accounts = 0;
  std::int64_t messages = 0;
  std::int64_t calls = 0;
  std::uint64_t bytes_on_disk = 0;
};

struct HistoryMessage {
  std::int64_t row = 0;  // position in history; pass as `before` to page back
  std::string account;
  std::string peer;
  std::string resource;
  std::string id;
  std::string body;
  std::chrono::system_clock::time_point time;
  bool outgoing = false;
  bool encrypted = false;
  std::optional<DeliveryState> state;  // outgoing messages only
};

struct ConversationSummary {
  std::string account;
  std::string peer;
  std::int64_t messages = 0;
  std::chrono::system_clock::time_point last;
};

struct CallEntry {
  std::int64_t row = 0;
  std::string account;
  std::string peer;
  bool outgoing = false;
  std::chrono::system_clock::time_point start;
  std::optional<std::chrono::system_clock::time_point> end;
  std::string reason;
  bool secured = false;
};

// ---------------------------------------------------------------------------
// Events (one stream; each carries the account it concerns)

struct AccountStateChanged {
  std::string account;
  AccountState state;
  std::optional<Error> error;
};
struct ContactsLoaded {
  std::string account;
  std::vector<Contact> contacts;
};
struct ContactChanged {
  Contact contact;
};
struct ContactRemoved {
  std::string account;
  std::string address;
};
struct PresenceChanged {
  std::string account;
  std::string address;  // bare
  std::string resource;
  Availability availability;
  std::string status;
};
struct AuthorizationRequested {
  std::string account;
  std::string address;
  std::string nick;
};
struct AuthorizationDenied {
  std::string account;
  std::string address;
};
struct MessageReceived {
  std::string account;
  std::string peer;  // bare address of the other side
  std::string resource;
  std::string id;
  std::string body;
  std::chrono::system_clock::time_point time;
  bool outgoing = false;  // a copy of what we sent from another device
  bool delayed = false;
  bool from_archive = false;
};
struct MessageStateChanged {
  std::string account;
  std::string peer;
  std::string id;
  DeliveryState state;
  std::optional<Error> error;
};

using Event = std::variant<AccountStateChanged, ContactsLoaded, ContactChanged, ContactRemoved,
                           PresenceChanged, AuthorizationRequested, AuthorizationDenied,
                           MessageReceived, MessageStateChanged>;

// ---------------------------------------------------------------------------
// Capabilities (Jitsi's operation sets, typed)

class InstantMessaging {
 public:
  virtual ~InstantMessaging() = default;
  // Returns the message id; the message is queued until the server has it.
  virtual std::string send_message(const std::string& to, std::string body) = 0;
  virtual std::size_t unacknowledged_messages() const = 0;
};

class Roster {
 public:
  virtual ~Roster() = default;
  virtual std::vector<Contact> contacts() const = 0;
  virtual void add_contact(const std::string& address, std::string name,
                           std::vector<std::string> groups,
                           std::function<void(Result<void>)> done) = 0;
  virtual void update_contact(const std::string& address, std::string name,
                              std::vector<std::string> groups,
                              std::function<void(Result<void>)> done) = 0;
  virtual void remove_contact(const std::string& address,
                              std::function<void(Result<void>)> done) = 0;
  virtual void authorize(const std::string& address) = 0;
  virtual void deny(const std::string& address) = 0;
  virtual std::vector<std::string> pending_requests() const = 0;
};

class PresenceCapability {
 public:
  virtual ~PresenceCapability() = default;
  virtual void set_presence(Availability availability, std::string status) = 0;
};

class PasswordChange {
 public:
  virtual ~PasswordChange() = default;
  virtual void change_password(std::string new_password,
                               std::function<void(Result<void>)> done) = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const std::string& account() const = 0;
  virtual AccountState state() const = 0;
  virtual void connect(Availability availability, std::string status) = 0;
  virtual void disconnect() = 0;
  // While offline or failed: new settings and password for the next connect();
  // messages not yet acknowledged by the server stay queued.
  virtual void reconfigure(const AccountSettings& settings, std::string password) = 0;
  // Fingerprint of the server certificate last seen (lowercase hex).
  virtual std::string server_certificate() const = 0;

  template <class Capability>
  Capability* get() {
    return static_cast<Capability*>(capability(typeid(Capability)));
  }

 protected:
  virtual void* capability(std::type_index type) = 0;
};

// ---------------------------------------------------------------------------
// Engine

class Engine {
 public:
  // `profile` names the folder under paths::data_home(); `data_home` overrides
  // that root (tests).
  Engine(asio::io_context& io, std::string profile = "default",
         std::optional<std::filesystem::path> data_home = std::nullopt);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Finds the profile and opens it when no master password guards it (then
  // imports and removes an interim profile.json). Must be called once before
  // anything else. A new profile is not created here: see create_profile().
  [[nodiscard]] Result<void> open();
  const std::filesystem::path& profile_dir() const;

  // --- The profile: everything below it needs an unlocked profile.
  ProfileProtection protection() const;
  bool unlocked() const;
  // The next three derive a key with Argon2id (about half a second) when a
  // master password is involved. That runs on a thread of its own; `done`
  // is called on the core thread (not at all if the Engine is destroyed
  // first). One at a time: another call meanwhile gets not_allowed.
  //
  // Creates the profile, under the master password when given, else with
  // its key in the desktop keyring or a key file.
  void create_profile(std::optional<std::string> master_password,
                      std::function<void(Result<void>)> done);
  // Wrong password: Errc::auth, nothing changes.
  void unlock(std::string master_password, std::function<void(Result<void>)> done);
  // Sets (current = nullopt when there is none), changes or (next = nullopt)
  // removes the master password. Rewraps the key only.
  void change_master_password(std::optional<std::string> current, std::optional<std::string> next,
                              std::function<void(Result<void>)> done);
  // Disconnects every account, closes the database and wipes the key and the
  // remembered passwords from memory.
  void lock();
  [[nodiscard]] Result<ProfileInfo> profile_info();
  // Reads every page of the profile and checks its structure.
  [[nodiscard]] Result<void> check_profile();

  // --- History. Messages are logged unless the global switch or the
  // contact's own is off; then nothing of that conversation touches the disk.
  bool log_history() const;
  [[nodiscard]] Result<void> set_log_history(bool on);
  [[nodiscard]] Result<bool> contact_log_history(const std::string& account,
                                                 const std::string& peer);
  [[nodiscard]] Result<void> set_contact_log_history(const std::string& account,
                                                     const std::string& peer, bool on);
  // Up to `limit` messages before row `before` (the newest when nullopt),
  // oldest first.
  [[nodiscard]] Result<std::vector<HistoryMessage>> history(const std::string& account,
                                                            const std::string& peer,
                                                            std::optional<std::int64_t> before,
                                                            std::size_t limit);
  [[nodiscard]] Result<std::vector<ConversationSummary>> conversations();
  // All the words, as prefixes, anywhere in history; newest first.
  [[nodiscard]] Result<std::vector<HistoryMessage>> search_history(const std::string& words,
                                                                   std::size_t limit);
  // Deleting erases the text from the profile's free pages and WAL too.
  [[nodiscard]] Result<std::int64_t> delete_history(const std::string& account,
                                                    const std::string& peer);
  [[nodiscard]] Result<std::int64_t> delete_all_history();
  [[nodiscard]] Result<std::vector<CallEntry>> call_history(std::size_t limit);
  [[nodiscard]] Result<std::int64_t> delete_call_history();

  // Events are delivered on the core thread, in order.
  using Subscription = std::size_t;
  Subscription subscribe(std::function<void(const Event&)> handler);
  void unsubscribe(Subscription id);

  // --- Accounts
  std::vector<AccountSettings> accounts() const;
  [[nodiscard]] Result<void> add_account(AccountSettings settings, std::string password);
  [[nodiscard]] Result<void> update_account(AccountSettings settings);
  [[nodiscard]] Result<void> remove_account(const std::string& address);
  // Creates the account on its server (in-band registration), then adds it.
  void register_account(AccountSettings settings, std::string password,
                        std::function<void(Result<void>)> done);
  // Goes online. `password` is needed when the account does not remember one.
  [[nodiscard]] Result<void> connect(const std::string& address,
                                     std::optional<std::string> password = std::nullopt,
                                     Availability availability = Availability::available,
                                     std::string status = {});
  void disconnect(const std::string& address);
  void disconnect_all();
  void change_password(const std::string& address, std::string new_password,
                       std::function<void(Result<void>)> done);
  // Trust exactly this server certificate for the account from now on.
  [[nodiscard]] Result<void> pin_certificate(const std::string& address, std::string sha256);
  AccountState state(const std::string& address) const;
  Provider* provider(const std::string& address);

  // --- Contacts and chats (thin conveniences over the capabilities)
  [[nodiscard]] Result<std::vector<Contact>> contacts(const std::string& account);
  void add_contact(const std::string& account, const std::string& address, std::string name,
                   std::vector<std::string> groups, std::function<void(Result<void>)> done);
  void update_contact(const std::string& account, const std::string& address, std::string name,
                      std::vector<std::string> groups, std::function<void(Result<void>)> done);
  void remove_contact(const std::string& account, const std::string& address,
                      std::function<void(Result<void>)> done);
  [[nodiscard]] Result<void> authorize(const std::string& account, const std::string& address);
  [[nodiscard]] Result<void> deny(const std::string& account, const std::string& address);
  [[nodiscard]] Result<std::vector<std::string>> pending_requests(const std::string& account);
  [[nodiscard]] Result<void> set_presence(const std::string& account, Availability availability,
                                          std::string status);
  [[nodiscard]] Result<std::string> send_message(const std::string& account, const std::string& to,
                                                 std::string body);
  std::size_t unacknowledged_messages() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::app
