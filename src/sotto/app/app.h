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
  std::string protocol = "xmpp";  // "xmpp" or "sip"
  // XMPP: the bare JID. SIP: the address of record without "sip:",
  // user@domain. Addresses are unique across protocols.
  std::string address;
  std::string host;  // XMPP: server override; SIP: outbound proxy; empty = DNS SRV
  uint16_t port = 0;
  bool direct_tls = false;  // XMPP only
  std::string pinned_cert_sha256;
  bool remember_password = false;
  // SIP only.
  std::string transport = "udp";  // "udp", "tcp" or "tls"
  std::string auth_user;          // digest user name when it is not the address's user
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

// Calls (SIP signalling; audio over RTP, private with ZRTP + SRTP).

enum class CallState {
  calling,   // we are calling; the other side was not reached yet
  ringing,   // we are calling and it rings there
  incoming,  // it rings here: answer or reject
  active,    // connected (see on_hold / remote_hold)
  ended,     // see end_reason
};
std::string_view to_string(CallState state);

enum class CallEndReason {
  hung_up,         // by us
  remote_hung_up,  // by them
  cancelled,       // the caller gave up before it was answered
  busy,
  declined,
  no_answer,
  not_found,     // no such user, or not reachable now
  unacceptable,  // no audio format in common
  failed,        // network, server or protocol failure (see end_text)
};
std::string_view to_string(CallEndReason reason);

enum class CallEncryption {
  negotiating,  // ZRTP under way (no audio yet)
  secure,       // SRTP with ZRTP keys: compare the SAS
  none,         // not encrypted (the other side has no ZRTP); open padlock
  failed,       // could not be secured while required: the call ends
};
std::string_view to_string(CallEncryption encryption);

struct CallQuality {
  double loss = 0;  // 0..1 of what the other side sent
  double jitter_ms = 0;
  std::optional<double> rtt_ms;
  double buffer_ms = 0;  // the jitter buffer's delay
  uint64_t packets_sent = 0;
  uint64_t packets_received = 0;
  uint64_t dropped = 0;  // garbage, forged or replayed packets refused
};

// Audio devices and processing for calls (kept in the profile, except the
// file backend's paths, which are per process: tests and headless use).
struct AudioSettings {
  std::string backend = "pulse";  // "pulse", "file" or "null"
  std::string input_device;       // pulse source name; empty: the default
  std::string output_device;      // pulse sink name; empty: the default
  std::string input_wav;          // file backend: played as the microphone
  std::string output_wav;         // file backend: what the other side says
  bool echo_cancellation = true;
  bool noise_suppression = true;
};

struct AudioDevice {
  std::string name;
  std::string description;
  bool input = false;
};

struct CallInfo {
  std::string id;  // unique in the process
  std::string account;
  std::string peer;  // user@domain (no "sip:")
  std::string peer_name;
  bool outgoing = false;
  CallState state = CallState::calling;
  bool on_hold = false;      // we put it on hold
  bool remote_hold = false;  // they did
  std::optional<CallEndReason> end_reason;
  std::string end_text;  // for people: "busy", "the server did not answer"
  std::string codec;     // negotiated, "PCMU/8000", once active
  std::chrono::system_clock::time_point start;
  std::optional<std::chrono::system_clock::time_point> connected;
  // Encryption of the audio (ZRTP), once active.
  CallEncryption encryption = CallEncryption::negotiating;
  std::string sas;            // 4 characters to compare aloud, once secure
  bool sas_verified = false;  // confirmed now or in an earlier call
  // A possible man in the middle: the contact's ZRTP secret did not match
  // what was kept, or the contact was verified before and is not now.
  bool cache_mismatch = false;
  std::string cipher;           // "AES1 HS80 X255", once secure
  std::string encryption_text;  // why not encrypted / failed, for people
  bool muted = false;
  CallQuality quality;  // updated every 2 s while active
};

// Private conversations (OTR, see docs/otr.md).

// What Sotto does on its own to make a conversation private.
enum class OtrPolicy {
  manual,         // only when the user starts it or the contact asks
  opportunistic,  // (default) start when the contact shows it speaks OTR
  always,         // also ask for OTR before the first plain message
  require,        // never send plain text: hold messages until private
};
std::string_view to_string(OtrPolicy policy);
std::optional<OtrPolicy> parse_otr_policy(std::string_view text);

// The padlock.
enum class Privacy {
  not_private,
  unverified,  // encrypted, but the contact's fingerprint is not verified
  verified,    // encrypted with a fingerprint the user verified
  finished,    // the contact ended the private conversation; end or refresh
};
std::string_view to_string(Privacy privacy);

struct OtrStatus {
  std::string account;
  std::string peer;
  Privacy privacy = Privacy::not_private;
  std::uint32_t instance = 0;                   // the contact's OTR v3 instance tag (0 for v2)
  int version = 0;                              // 2 or 3 while private
  std::string resource;                         // the contact's device last heard from
  std::optional<std::string> fingerprint;       // the contact's, while private
  OtrPolicy policy = OtrPolicy::opportunistic;  // the one in effect
  bool contact_policy = false;                  // set for this contact
  std::size_t held = 0;  // messages waiting for the conversation to be private
  bool logging = true;   // this conversation is written to history
};

struct OtrFingerprint {
  std::string account;
  std::string peer;
  std::string fingerprint;  // 5 groups of 8 upper-case hex digits
  bool verified = false;
  bool active = false;  // in use by the current private conversation
};

struct SentMessage {
  std::string id;
  bool encrypted = false;  // left (or will leave) inside OTR
  bool held = false;       // "require": waits until the conversation is private
};

struct OtrImported {
  std::size_t keys = 0;
  std::size_t fingerprints = 0;
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
  bool carbon = false;     // a copy of a message to or from another of our devices
  bool encrypted = false;  // arrived inside a private (OTR) conversation
};
struct MessageStateChanged {
  std::string account;
  std::string peer;
  std::string id;
  DeliveryState state;
  std::optional<Error> error;
};

// The padlock of a conversation changed.
struct PrivacyChanged {
  std::string account;
  std::string peer;
  Privacy privacy;
  std::uint32_t instance = 0;
  int version = 0;
  std::string resource;
  bool logging = true;  // "this conversation is being logged"
};
// The first fingerprint ever seen for a contact.
struct OtrNewFingerprint {
  std::string account;
  std::string peer;
  std::string fingerprint;
};
// A contact showed up with a key different from the ones seen before
// (another device, a reinstall, or an attacker): show it loudly; the
// conversation is unverified until the user verifies again.
struct OtrKeyChanged {
  std::string account;
  std::string peer;
  std::string fingerprint;
  std::vector<std::string> known;
};
enum class SmpStage {
  asked_question,  // the contact asks `question`: answer with smp_answer()
  asked_secret,    // the contact asks for the shared secret: smp_answer()
  in_progress,
  succeeded,  // the answers match. The side that asked now trusts the
              // contact; with a shared secret, both sides do; the side
              // that answered a question does not (it may ask back).
  failed,     // the answers differ
  aborted,    // by either side
  error,      // protocol error; the exchange was aborted
};
std::string_view to_string(SmpStage stage);
struct SmpProgress {
  std::string account;
  std::string peer;
  SmpStage stage;
  int percent = 0;
  std::string question;
};
// "require": a message was held back, not sent, and why.
struct MessageHeld {
  std::string account;
  std::string peer;
  std::string id;
  std::size_t held = 0;  // messages now waiting for this contact
  std::string reason;
};
// Something went wrong in a private conversation. `code` is one of:
// undecryptable, malformed, unrecognized, not_in_private, peer_error,
// setup_failed, encryption_failed, ended_by_peer, unencrypted, reflected,
// other_instance, no_key.
struct OtrProblem {
  std::string account;
  std::string peer;
  std::string code;
  std::string message;
};
enum class OtrKeyStage { generating, ready, failed };
std::string_view to_string(OtrKeyStage stage);
struct OtrKeyState {
  std::string account;
  OtrKeyStage stage;
  std::string fingerprint;  // with ready
  std::optional<Error> error;
};

// A call began, changed state or ended (state ended: the last event for it).
struct CallChanged {
  CallInfo call;
};
// The other side of call `id` pressed a key (RFC 4733).
struct CallDtmf {
  std::string id;
  char digit = '0';
};
// A microphone or speaker appeared, went away or failed.
struct AudioDeviceEvent {
  std::string text;
};

using Event =
    std::variant<AccountStateChanged, ContactsLoaded, ContactChanged, ContactRemoved,
                 PresenceChanged, AuthorizationRequested, AuthorizationDenied, MessageReceived,
                 MessageStateChanged, PrivacyChanged, OtrNewFingerprint, OtrKeyChanged, SmpProgress,
                 MessageHeld, OtrProblem, OtrKeyState, CallChanged, CallDtmf, AudioDeviceEvent>;

// ---------------------------------------------------------------------------
// Capabilities (Jitsi's operation sets, typed)

class InstantMessaging {
 public:
  virtual ~InstantMessaging() = default;
  // Returns the message id (`id` when given); the message is queued until
  // the server has it.
  virtual std::string send_message(const std::string& to, std::string body,
                                   std::string id = {}) = 0;
  virtual std::size_t unacknowledged_messages() const = 0;
  // The largest message body the transport carries safely, in bytes (OTR
  // splits what is longer into fragments); 0: no limit of its own.
  virtual std::size_t max_message_size() const { return 0; }
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

// Calls. Each change is a CallChanged event.
class Telephony {
 public:
  virtual ~Telephony() = default;
  // Calls `to` (user@domain, sip:user@domain, or a user on the account's
  // domain); returns the call's id.
  virtual Result<std::string> call(const std::string& to) = 0;
  virtual Result<void> answer(const std::string& id) = 0;
  // An incoming call not answered yet: busy (486) or declined (603).
  virtual Result<void> reject(const std::string& id, bool busy) = 0;
  // Ends any call: cancels one not answered yet, declines an incoming one.
  virtual Result<void> hang_up(const std::string& id) = 0;
  virtual Result<void> hold(const std::string& id, bool on) = 0;
  // Calls not ended yet.
  virtual std::vector<CallInfo> calls() const = 0;
  // ZRTP: the users compared the SAS (true) or want it compared again (false).
  virtual Result<void> confirm_sas(const std::string& id, bool verified) = 0;
  virtual Result<void> mute(const std::string& id, bool on) = 0;
  virtual Result<void> send_dtmf(const std::string& id, const std::string& digits) = 0;
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

  // --- Packet logging (docs/packet-log.md), off by default. While on, every
  // account's traffic (the XML inside TLS, without the login exchange and
  // with passwords redacted) is appended in plain text, outside the
  // profile's encryption, to packet_log_dir()/<account>.log. Turning it on
  // or off takes effect at once, for accounts already online too. Kept in
  // the profile; setting it needs an unlocked profile.
  bool packet_logging() const;  // false while locked
  [[nodiscard]] Result<void> set_packet_logging(bool on);
  std::filesystem::path packet_log_dir() const;  // <profile_dir()>/packets

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
  // Calls are logged when they end (and when they start) unless history is
  // off globally or for the contact.
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
  // Through OTR as the conversation's policy and state say: encrypted when
  // private, held back under "require", refused (Errc::not_allowed) after
  // the contact ended the private conversation.
  [[nodiscard]] Result<SentMessage> send_message(const std::string& account, const std::string& to,
                                                 std::string body);
  std::size_t unacknowledged_messages() const;

  // --- Calls (accounts with Telephony: SIP). CallChanged events follow
  // every change; ids are unique across accounts.
  [[nodiscard]] Result<std::string> call(const std::string& account, const std::string& to);
  [[nodiscard]] Result<void> answer_call(const std::string& id);
  [[nodiscard]] Result<void> reject_call(const std::string& id, bool busy = false);
  [[nodiscard]] Result<void> hang_up(const std::string& id);
  [[nodiscard]] Result<void> hold_call(const std::string& id, bool on);
  std::vector<CallInfo> calls() const;  // not ended yet, every account
  // The SAS was compared aloud and matched (true), or is to be compared
  // again in the next call (false). Kept in the profile's ZRTP cache.
  [[nodiscard]] Result<void> confirm_sas(const std::string& id, bool verified = true);
  [[nodiscard]] Result<void> mute_call(const std::string& id, bool on);
  // '0'-'9', '*', '#', 'A'-'D' (RFC 4733); anything else is invalid_argument.
  [[nodiscard]] Result<void> send_dtmf(const std::string& id, const std::string& digits);
  // "Require encryption" (off by default: ZRTP is still tried on every
  // call): a call that cannot be secured is ended with a reason instead of
  // going on in the clear. Kept in the profile; takes effect for new calls.
  bool require_call_encryption() const;
  [[nodiscard]] Result<void> set_require_call_encryption(bool on);
  AudioSettings audio_settings() const;
  // For calls that start from now on. The device and processing choices are
  // kept in the profile when unlocked; the WAV paths are not.
  [[nodiscard]] Result<void> set_audio_settings(AudioSettings settings);
  std::vector<AudioDevice> audio_devices() const;  // PulseAudio's; empty without a server

  // --- Private conversations (OTR). Keys and trust live in the profile.
  // The policy for contacts without one of their own.
  OtrPolicy otr_policy() const;
  [[nodiscard]] Result<void> set_otr_policy(OtrPolicy policy);
  // The contact's own policy, if set; nullopt clears it.
  [[nodiscard]] Result<std::optional<OtrPolicy>> contact_otr_policy(const std::string& account,
                                                                    const std::string& peer);
  [[nodiscard]] Result<void> set_contact_otr_policy(const std::string& account,
                                                    const std::string& peer,
                                                    std::optional<OtrPolicy> policy);
  // Generates (or replaces) the account's key on a worker thread; OtrKeyState
  // events say when it starts and ends; `done` gets the new fingerprint.
  // An account without a key gets one when it goes online, unless turned
  // off (front ends that only run a quick command and quit).
  void generate_otr_key(const std::string& account, std::function<void(Result<std::string>)> done);
  void set_otr_keys_on_connect(bool on);
  [[nodiscard]] Result<std::optional<std::string>> otr_fingerprint(const std::string& account);
  [[nodiscard]] Result<OtrStatus> otr_status(const std::string& account, const std::string& peer);
  // Start (or refresh) and end a private conversation (account online).
  [[nodiscard]] Result<void> start_otr(const std::string& account, const std::string& peer);
  [[nodiscard]] Result<void> end_otr(const std::string& account, const std::string& peer);
  // Verify the contact with the Socialist Millionaires' Protocol: a question
  // the contact must answer with `secret`, or (no question) a secret both
  // know. Needs a private conversation.
  [[nodiscard]] Result<void> smp_ask(const std::string& account, const std::string& peer,
                                     std::optional<std::string> question, std::string secret);
  [[nodiscard]] Result<void> smp_answer(const std::string& account, const std::string& peer,
                                        std::string answer);
  [[nodiscard]] Result<void> smp_abort(const std::string& account, const std::string& peer);
  // Known fingerprints of every account (account empty) or of one.
  [[nodiscard]] Result<std::vector<OtrFingerprint>> otr_fingerprints(const std::string& account);
  [[nodiscard]] Result<void> set_fingerprint_verified(const std::string& account,
                                                      const std::string& peer,
                                                      const std::string& fingerprint,
                                                      bool verified);
  // not_allowed while the fingerprint is in use by a private conversation.
  [[nodiscard]] Result<void> forget_fingerprint(const std::string& account, const std::string& peer,
                                                const std::string& fingerprint);
  // Pidgin's otr.private_key and otr.fingerprints (either may be absent):
  // takes what belongs to this account, whatever resource Pidgin had.
  [[nodiscard]] Result<OtrImported> import_pidgin_otr(
      const std::string& account, const std::optional<std::filesystem::path>& keys,
      const std::optional<std::filesystem::path>& fingerprints);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::app
