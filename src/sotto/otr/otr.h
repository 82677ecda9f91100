// sotto/otr: Off-the-Record messaging (OTR v2 and v3) on libotr 4.1.
//
// - Engine: one per local account, with its own libotr user state. It does no
//   I/O, starts no thread and keeps no timer: the owner feeds it what arrives
//   (incoming), what the user typed (outgoing) and the time (poll), and it
//   answers with return values, the send callback and events.
// - Confinement: an Engine and everything it hands out, except
//   KeyGeneration::calculate(), must be used on one thread (libotr is not
//   thread-safe). Callbacks run on that thread, never from inside libotr, and
//   must not call back into the engine.
// - Keys, instance tags and known fingerprints (with their trust) are never
//   files: they are blobs in libotr's own text formats (the same as Pidgin's
//   otr.private_key, otr.instance_tags and otr.fingerprints), handed to the
//   owner through callbacks and export functions, read back by the import
//   functions. The private-key blob is secret.
// - Peers are addresses. With Options::strip_resource (the default, for XMPP)
//   "bob@example.org/laptop" and "bob@example.org" are one peer, the bare
//   address: trust belongs to the contact, OTR v3 instance tags tell its
//   clients apart, and the send callback gets the full address last seen.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::otr {

// What the engine does on its own to make a conversation private.
enum class Policy {
  manual,         // OTR only when the user starts it or the peer asks
  opportunistic,  // (default) whitespace tag on plain messages; start the AKE
                  // when the peer advertises OTR (tag or OTR error)
  always,         // opportunistic, and send an OTR query before the first
                  // plain message to a peer
  require,        // never send plain text: queue, start OTR, send the queue
                  // once private (events say why nothing was sent yet)
};

std::string_view to_string(Policy policy);

enum class State {
  not_private,
  private_unverified,  // encrypted; the peer's fingerprint is not verified
  private_verified,    // encrypted with a verified fingerprint
  finished,            // the peer ended the private conversation
};

std::string_view to_string(State state);

// Protocol versions the engine may speak. Both by default: profanity and
// other libotr clients restricted to v2 still work, two v3 clients use v3.
struct Versions {
  bool v2 = true;
  bool v3 = true;
};

struct Options {
  std::string account;            // our address, e.g. "alice@example.org"
  std::string protocol = "xmpp";  // libotr's protocol id (Pidgin: "prpl-jabber")
  Policy policy = Policy::opportunistic;
  Versions versions;
  std::size_t max_message_size = 0;  // fragment above this many bytes; 0 = never
  bool strip_resource = true;        // peers are bare addresses (see above)
  // The clock for next_deadline(); steady_clock::now when empty. (libotr's
  // own expiry checks read time(NULL) regardless.)
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// --- Events -----------------------------------------------------------------

struct StateChanged {
  std::string peer;
  State state;
  std::uint32_t instance = 0;  // the peer's OTR v3 instance tag (0 for v2)
  int protocol_version = 0;    // 2 or 3 while private
};

// The first fingerprint ever seen for a peer.
struct NewFingerprint {
  std::string peer;
  std::string fingerprint;  // human format
};

// A peer showed up with a fingerprint different from the ones known before:
// another device, a reinstall, or an attacker. The conversation is
// unverified until the user verifies again. Show this loudly.
struct KeyChanged {
  std::string peer;
  std::string fingerprint;                      // the new one
  std::vector<std::string> known_fingerprints;  // the ones seen before
};

enum class SmpStage {
  asked_question,  // the peer asks `question`; answer with smp_respond()
  asked_secret,    // the peer asks for the shared secret; smp_respond()
  in_progress,
  succeeded,
  failed,   // the answers did not match
  aborted,  // by either side
  error,    // protocol error or cheating; the engine aborted the exchange
};

std::string_view to_string(SmpStage stage);

struct SmpProgress {
  std::string peer;
  SmpStage stage;
  int percent = 0;
  std::string question;  // with asked_question
};

// "require": the message was queued, not sent, because the conversation is not
// private yet; OTR has been started.
struct MessageQueued {
  std::string peer;
  std::size_t queued = 0;  // messages waiting for this peer
  std::string reason;
};

// What became of a message queued by "require" (see MessageQueued): sent
// encrypted (its bodies were the sends just before this event), or dropped
// because the private conversation was ended first.
struct QueuedMessageDone {
  std::string peer;
  std::string tag;  // the tag given to outgoing()
  bool sent = false;
};

enum class Problem {
  undecryptable,      // an encrypted message we cannot read (lost keys, replay)
  malformed,          // garbled OTR data
  unrecognized,       // an OTR message of an unknown type
  not_in_private,     // encrypted data arrived while not private
  peer_error,         // the peer sent an OTR error (detail: its text)
  setup_failed,       // the AKE failed (detail: why)
  encryption_failed,  // we could not encrypt; nothing was sent
  ended_by_peer,      // not sent: the peer ended the private conversation
  unencrypted,        // a plain message arrived although private/required
  reflected,          // our own OTR messages came back
  other_instance,     // a message for another of our instances was dropped
  no_key,             // our key is missing: generate one before going private
};

std::string_view to_string(Problem problem);

struct MessageProblem {
  std::string peer;
  Problem problem;
  std::string detail;
};

using Event = std::variant<StateChanged, NewFingerprint, KeyChanged, SmpProgress, MessageQueued,
                           QueuedMessageDone, MessageProblem>;

// --- Engine -----------------------------------------------------------------

struct Callbacks {
  // Send `body` to `to` (the peer's last-seen full address). Everything the
  // engine sends on its own goes here: queries, AKE and SMP messages, OTR
  // errors, heartbeats, the "require" queue once private.
  std::function<void(const std::string& to, const std::string& body)> send;
  std::function<void(const Event&)> on_event;
  // New blobs to store (encrypted) after they changed.
  std::function<void(const std::string& blob)> on_trust_changed;
  std::function<void(const std::string& blob)> on_keys_changed;  // secret
  std::function<void(const std::string& blob)> on_instance_tags_changed;
};

struct Outgoing {
  enum class Status {
    send,     // send `bodies` in order (OTR fragments, or one body)
    queued,   // "require": queued until private (a MessageQueued event says so)
    refused,  // nothing may be sent now (a MessageProblem event says why)
  };
  Status status = Status::send;
  std::vector<std::string> bodies;
};

struct Incoming {
  std::optional<std::string> text;  // what to show; none for OTR internals
  bool encrypted = false;           // text arrived encrypted
};

struct KnownFingerprint {
  std::string peer;
  std::string fingerprint;  // human format
  bool verified = false;
  bool active = false;  // in use by the current private conversation
};

class Engine;

// A key being generated. begin on the engine thread, calculate() on any thread
// (a worker: 0.1-0.5 s of CPU), then Engine::finish_key_generation on the
// engine thread. Dropping it unfinished cancels the generation.
class KeyGeneration {
 public:
  KeyGeneration(KeyGeneration&&) noexcept;
  KeyGeneration& operator=(KeyGeneration&&) noexcept;
  KeyGeneration(const KeyGeneration&) = delete;
  KeyGeneration& operator=(const KeyGeneration&) = delete;
  ~KeyGeneration();

  // The DSA-1024 computation. Thread-safe with respect to the engine.
  [[nodiscard]] Result<void> calculate();

  struct State;

 private:
  friend class Engine;
  explicit KeyGeneration(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Engine {
 public:
  using Clock = std::chrono::steady_clock;

  [[nodiscard]] static Result<std::unique_ptr<Engine>> create(Options options, Callbacks callbacks);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Policies and limits.
  void set_policy(Policy policy);
  void set_policy(std::string_view peer, Policy policy);
  void clear_policy(std::string_view peer);
  Policy policy(std::string_view peer) const;
  void set_versions(Versions versions);
  void set_max_message_size(std::size_t bytes);
  void set_max_message_size(std::string_view peer, std::size_t bytes);
  // Whether the peer is online (default: yes); an offline peer gets no
  // disconnect notice or heartbeat.
  void set_online(std::string_view peer, bool online);

  // Messages. `text` is what the user typed; `body` is what the network
  // carried; `tag` names a message that "require" queues in the events about
  // it. Errors: Errc::invalid_argument (empty peer, NUL in text),
  // Errc::protocol (libotr failed; nothing to send).
  [[nodiscard]] Result<Outgoing> outgoing(std::string_view peer, std::string_view text,
                                          std::string_view tag = {});
  [[nodiscard]] Result<Incoming> incoming(std::string_view from, std::string_view body);

  // Start (or refresh) and end a private conversation with the peer.
  [[nodiscard]] Result<void> start(std::string_view peer);
  void end(std::string_view peer);
  State state(std::string_view peer) const;
  std::size_t queued(std::string_view peer) const;

  // Verification by the Socialist Millionaires' Protocol. All need a private
  // conversation (Errc::not_allowed otherwise).
  [[nodiscard]] Result<void> smp_ask(std::string_view peer, std::string_view question,
                                     std::string_view answer);
  [[nodiscard]] Result<void> smp_secret(std::string_view peer, std::string_view secret);
  [[nodiscard]] Result<void> smp_respond(std::string_view peer, std::string_view answer);
  [[nodiscard]] Result<void> smp_abort(std::string_view peer);

  // Fingerprints (human format: 5 groups of 8 upper-case hex digits).
  std::optional<std::string> fingerprint() const;                            // ours
  std::optional<std::string> peer_fingerprint(std::string_view peer) const;  // active one
  std::vector<KnownFingerprint> known_fingerprints() const;
  [[nodiscard]] Result<void> set_verified(std::string_view peer, std::string_view fingerprint,
                                          bool verified);
  // Errc::not_allowed when the fingerprint is in use by a private conversation.
  [[nodiscard]] Result<void> forget(std::string_view peer, std::string_view fingerprint);

  // Keys.
  bool has_key() const;
  // Peers who began a key exchange while this account had no key (it could
  // not be answered), each once; ask them again with start() once a key is
  // ready.
  std::vector<std::string> take_keyless_peers();
  // start(), after forgetting any key exchange half done with the peer.
  [[nodiscard]] Result<void> restart(std::string_view peer);
  // Errc::already_exists while another generation is running.
  [[nodiscard]] Result<KeyGeneration> begin_key_generation();
  [[nodiscard]] Result<void> finish_key_generation(KeyGeneration generation);

  // Blobs (libotr's own text formats, so Pidgin's files load too).
  // import_keys replaces the keys (after checking the blob on a scratch
  // copy); import_trust and import_instance_tags merge into what is known.
  [[nodiscard]] Result<std::string> export_keys() const;  // secret
  [[nodiscard]] Result<void> import_keys(std::string_view blob);
  [[nodiscard]] Result<std::string> export_trust() const;
  [[nodiscard]] Result<void> import_trust(std::string_view blob);
  [[nodiscard]] Result<std::string> export_instance_tags() const;
  [[nodiscard]] Result<void> import_instance_tags(std::string_view blob);

  // libotr's periodic clean-up of stale secrets (forward secrecy). Call
  // poll() at next_deadline(); none means nothing is due.
  std::optional<Clock::time_point> next_deadline() const;
  void poll(Clock::time_point now);

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sotto::otr
