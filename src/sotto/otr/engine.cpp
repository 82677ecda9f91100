#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>

// libotr's headers are not self-contained: this order matters.
// clang-format off
extern "C" {
#include <gcrypt.h>
#include <libotr/proto.h>
#include <libotr/tlv.h>
#include <libotr/context.h>
#include <libotr/auth.h>
#include <libotr/message.h>
#include <libotr/privkey.h>
#include <libotr/instag.h>
#include <libotr/userstate.h>
}
// clang-format on

#include "sotto/otr/memory_file.h"
#include "sotto/otr/otr.h"

namespace sotto::otr {

std::string_view to_string(Policy policy) {
  switch (policy) {
    case Policy::manual:
      return "manual";
    case Policy::opportunistic:
      return "opportunistic";
    case Policy::always:
      return "always";
    case Policy::require:
      return "require";
  }
  return "?";
}

std::string_view to_string(State state) {
  switch (state) {
    case State::not_private:
      return "not private";
    case State::private_unverified:
      return "private (unverified)";
    case State::private_verified:
      return "private (verified)";
    case State::finished:
      return "finished by the other side";
  }
  return "?";
}

std::string_view to_string(SmpStage stage) {
  switch (stage) {
    case SmpStage::asked_question:
      return "asked a question";
    case SmpStage::asked_secret:
      return "asked for the shared secret";
    case SmpStage::in_progress:
      return "in progress";
    case SmpStage::succeeded:
      return "succeeded";
    case SmpStage::failed:
      return "failed";
    case SmpStage::aborted:
      return "aborted";
    case SmpStage::error:
      return "error";
  }
  return "?";
}

std::string_view to_string(Problem problem) {
  switch (problem) {
    case Problem::undecryptable:
      return "an encrypted message could not be read";
    case Problem::malformed:
      return "a garbled OTR message was dropped";
    case Problem::unrecognized:
      return "an unknown OTR message was dropped";
    case Problem::not_in_private:
      return "an encrypted message arrived outside a private conversation";
    case Problem::peer_error:
      return "the other side reported an OTR error";
    case Problem::setup_failed:
      return "the private conversation could not be set up";
    case Problem::encryption_failed:
      return "the message could not be encrypted and was not sent";
    case Problem::ended_by_peer:
      return "the other side ended the private conversation";
    case Problem::unencrypted:
      return "a message arrived unencrypted";
    case Problem::reflected:
      return "our own OTR messages came back";
    case Problem::other_instance:
      return "a message for another OTR instance was dropped";
    case Problem::no_key:
      return "no OTR key for this account yet";
  }
  return "?";
}

namespace {

constexpr std::size_t kMinMessageSize = 64;  // libotr divides by (mms - 37)
constexpr const char* kModule = "otr";

// A string that is wiped when it goes away (queued plaintext).
struct SecretString {
  std::string text;
  std::string tag;  // the owner's name for a queued message
  explicit SecretString(std::string t, std::string g = {})
      : text(std::move(t)), tag(std::move(g)) {}
  SecretString(SecretString&& other) noexcept
      : text(std::move(other.text)), tag(std::move(other.tag)) {}
  SecretString& operator=(SecretString&&) = delete;
  ~SecretString() { detail::wipe(text); }
};

struct PeerInfo {
  std::optional<Policy> policy;
  std::optional<std::size_t> max_message_size;
  std::string route;  // full address last seen
  bool online = true;
  bool query_sent = false;  // Policy::always
  bool flush = false;       // went private: send the queue
  bool abort_smp = false;
  std::deque<SecretString> queue;
  State reported = State::not_private;
  std::uint32_t reported_instance = 0;
  int reported_version = 0;
};

struct Send {
  std::string to;
  std::string body;
};

struct Output {
  std::variant<Send, Event> what;
};

std::string to_human(const unsigned char hash[20]) {
  char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
  otrl_privkey_hash_to_human(human, hash);
  return human;
}

std::string normalize_fingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

Result<void> init_libotr() {
  static std::once_flag once;
  static gcry_error_t error = 0;
  std::call_once(
      once, [] { error = otrl_init(OTRL_VERSION_MAJOR, OTRL_VERSION_MINOR, OTRL_VERSION_SUB); });
  if (error != 0) return fail(Errc::not_supported, "the installed libotr is not usable (version)");
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------

struct KeyGeneration::State {
  void* newkey = nullptr;
  const Engine::Impl* owner = nullptr;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  bool calculated = false;
};

KeyGeneration::KeyGeneration(std::unique_ptr<State> state) : state_(std::move(state)) {}
KeyGeneration::KeyGeneration(KeyGeneration&&) noexcept = default;
KeyGeneration& KeyGeneration::operator=(KeyGeneration&&) noexcept = default;

KeyGeneration::~KeyGeneration() {
  // With a null user state libotr only frees the job; the engine clears its
  // pending mark at the next begin_key_generation().
  if (state_ && state_->newkey != nullptr) otrl_privkey_generate_cancelled(nullptr, state_->newkey);
}

Result<void> KeyGeneration::calculate() {
  if (!state_ || state_->newkey == nullptr || state_->calculated) {
    return fail(Errc::invalid_argument, "this key generation is finished or was never started");
  }
  gcry_error_t err = otrl_privkey_generate_calculate(state_->newkey);
  if (err != 0)
    return fail(Errc::io, std::string("OTR key generation failed: ") + gcry_strerror(err));
  state_->calculated = true;
  return {};
}

// ---------------------------------------------------------------------------

struct Engine::Impl {
  Options options;
  Callbacks callbacks;
  std::function<Clock::time_point()> clock = [] { return Clock::now(); };
  OtrlUserState us = nullptr;
  OtrlMessageAppOps ops{};
  std::map<std::string, PeerInfo, std::less<>> peers;
  std::vector<Output> pending;
  std::vector<std::string>* capture = nullptr;  // outgoing(): injected bodies
  bool trust_dirty = false;
  bool instags_dirty = false;
  bool keys_dirty = false;
  bool decrypted = false;
  std::optional<std::string> unencrypted_text;
  unsigned timer_interval = 0;
  std::optional<Clock::time_point> deadline;
  std::weak_ptr<int> keygen_alive;
  // The peer whose message otrl_message_receiving is reading, and the peers
  // whose key exchange we could not answer for want of a key.
  std::string receiving;
  std::set<std::string> keyless_peers;

  ~Impl() {
    if (us == nullptr) return;
    // libotr 4.1.1's otrl_context_forget frees a context but not its
    // ConnContextPriv (whose secrets force_plaintext has already released).
    std::vector<void*> privs;
    // Nor its AKE state (cipher handles of an unfinished or last AKE).
    for (ConnContext* c = us->context_root; c != nullptr; c = c->next) {
      privs.push_back(c->context_priv);
      otrl_auth_clear(&c->auth);
    }
    otrl_userstate_free(us);
    for (void* p : privs) std::free(p);
  }

  std::string key_of(std::string_view address) const {
    if (!options.strip_resource) return std::string(address);
    return std::string(address.substr(0, address.find('/')));
  }

  PeerInfo& peer(std::string_view key) {
    auto it = peers.find(key);
    if (it == peers.end()) it = peers.emplace(std::string(key), PeerInfo{}).first;
    return it->second;
  }

  const PeerInfo* find_peer(std::string_view key) const {
    auto it = peers.find(key);
    return it == peers.end() ? nullptr : &it->second;
  }

  Policy policy_of(std::string_view key) const {
    const PeerInfo* info = find_peer(key);
    return info && info->policy ? *info->policy : options.policy;
  }

  OtrlPolicy flags_of(std::string_view key) const {
    OtrlPolicy versions = 0;
    if (options.versions.v2) versions |= OTRL_POLICY_ALLOW_V2;
    if (options.versions.v3) versions |= OTRL_POLICY_ALLOW_V3;
    if (versions == 0) return OTRL_POLICY_NEVER;
    switch (policy_of(key)) {
      case Policy::manual:
        return versions;
      case Policy::opportunistic:
      case Policy::always:
        return versions | OTRL_POLICY_SEND_WHITESPACE_TAG | OTRL_POLICY_WHITESPACE_START_AKE |
               OTRL_POLICY_ERROR_START_AKE;
      case Policy::require:
        return versions | OTRL_POLICY_REQUIRE_ENCRYPTION | OTRL_POLICY_WHITESPACE_START_AKE |
               OTRL_POLICY_ERROR_START_AKE;
    }
    return versions;
  }

  ConnContext* context(std::string_view key, otrl_instag_t instance) const {
    std::string k(key);
    return otrl_context_find(us, k.c_str(), options.account.c_str(), options.protocol.c_str(),
                             instance, 0, nullptr, nullptr, nullptr);
  }
  // The instance a conversation is about: the one the contact last wrote
  // from while it is not plain text (a contact who reinstalled is judged by
  // the new instance, not by a stale private one), else libotr's best.
  ConnContext* best(std::string_view key) const {
    ConnContext* m = context(key, OTRL_INSTAG_MASTER);
    if (m == nullptr) return nullptr;
    ConnContext* recent = m->recent_rcvd_child;
    if (recent != nullptr && recent->msgstate != OTRL_MSGSTATE_PLAINTEXT) return recent;
    return context(key, OTRL_INSTAG_BEST);
  }
  otrl_instag_t target_instance(std::string_view key) const {
    ConnContext* ctx = best(key);
    return ctx != nullptr && ctx->their_instance >= OTRL_MIN_VALID_INSTAG ? ctx->their_instance
                                                                          : OTRL_INSTAG_BEST;
  }
  ConnContext* master(std::string_view key) const { return context(key, OTRL_INSTAG_MASTER); }

  static State state_of(const ConnContext* ctx) {
    if (ctx == nullptr) return State::not_private;
    switch (ctx->msgstate) {
      case OTRL_MSGSTATE_ENCRYPTED:
        return otrl_context_is_fingerprint_trusted(ctx->active_fingerprint)
                   ? State::private_verified
                   : State::private_unverified;
      case OTRL_MSGSTATE_FINISHED:
        return State::finished;
      case OTRL_MSGSTATE_PLAINTEXT:
        break;
    }
    return State::not_private;
  }

  std::string route_of(std::string_view key) {
    PeerInfo& info = peer(key);
    return info.route.empty() ? std::string(key) : info.route;
  }

  void emit(Event event) { pending.push_back(Output{std::move(event)}); }
  void problem(std::string_view key, Problem p, std::string detail = {}) {
    log::info(kModule, std::string(to_string(p)));
    emit(MessageProblem{std::string(key), p, std::move(detail)});
  }

  // --- work done after libotr returned -----------------------------------

  void send_queue(std::string_view key, PeerInfo& info) {
    while (!info.queue.empty()) {
      ConnContext* ctx = best(key);
      if (ctx == nullptr || ctx->msgstate != OTRL_MSGSTATE_ENCRYPTED) return;
      SecretString text = std::move(info.queue.front());
      info.queue.pop_front();
      std::string k(key);
      char* message = nullptr;
      gcry_error_t err =
          otrl_message_sending(us, &ops, this, options.account.c_str(), options.protocol.c_str(),
                               k.c_str(), target_instance(key), text.text.c_str(), nullptr,
                               &message, OTRL_FRAGMENT_SEND_ALL, nullptr, nullptr, nullptr);
      if (message != nullptr) otrl_message_free(message);
      if (err != 0) problem(key, Problem::encryption_failed, gcry_strerror(err));
      emit(QueuedMessageDone{k, text.tag, err == 0});
    }
  }

  void refresh_states() {
    for (auto& [key, info] : peers) {
      ConnContext* ctx = best(key);
      State now = state_of(ctx);
      std::uint32_t instance = ctx ? ctx->their_instance : 0;
      int version = ctx && now != State::not_private ? static_cast<int>(ctx->protocol_version) : 0;
      if (now != info.reported || instance != info.reported_instance ||
          version != info.reported_version) {
        bool changed = now != info.reported;
        // Private with another of the peer's clients is news too.
        bool other_session = now != State::not_private;
        info.reported = now;
        info.reported_instance = instance;
        info.reported_version = version;
        if (changed) log::info(kModule, "conversation is now " + std::string(to_string(now)));
        if (changed || other_session) emit(StateChanged{key, now, instance, version});
      }
    }
  }

  // Runs at the end of every public call: follow-up work that must not run
  // inside libotr's callbacks, then the owner's callbacks, in order.
  void drain() {
    for (auto& [key, info] : peers) {
      if (info.abort_smp) {
        info.abort_smp = false;
        if (ConnContext* ctx = best(key)) otrl_message_abort_smp(us, &ops, this, ctx);
      }
      if (info.flush) {
        info.flush = false;
        send_queue(key, info);
      }
    }
    refresh_states();
    std::vector<Output> out;
    out.swap(pending);
    std::optional<std::string> trust, instags, keys;
    if (trust_dirty) {
      trust_dirty = false;
      if (auto blob = export_trust()) trust = std::move(*blob);
    }
    if (instags_dirty) {
      instags_dirty = false;
      if (auto blob = export_instance_tags()) instags = std::move(*blob);
    }
    if (keys_dirty) {
      keys_dirty = false;
      if (auto blob = export_keys()) keys = std::move(*blob);
    }
    try {
      for (Output& o : out) {
        if (auto* send = std::get_if<Send>(&o.what)) {
          if (callbacks.send) callbacks.send(send->to, send->body);
        } else if (callbacks.on_event) {
          callbacks.on_event(std::get<Event>(o.what));
        }
      }
      if (trust && callbacks.on_trust_changed) callbacks.on_trust_changed(*trust);
      if (instags && callbacks.on_instance_tags_changed)
        callbacks.on_instance_tags_changed(*instags);
      if (keys && callbacks.on_keys_changed) callbacks.on_keys_changed(*keys);
    } catch (const std::exception& e) {
      log::error(kModule, std::string("an OTR callback threw: ") + e.what());
    } catch (...) {
      log::error(kModule, "an OTR callback threw");
    }
    if (keys) detail::wipe(*keys);
  }

  // --- blobs ----------------------------------------------------------------

  Result<std::string> export_trust() const {
    return detail::with_memory_file(
        {}, [this](FILE* f) { return otrl_privkey_write_fingerprints_FILEp(us, f); });
  }

  Result<std::string> export_instance_tags() const {
    return detail::with_memory_file({}, [this](FILE* f) { return otrl_instag_write_FILEp(us, f); });
  }

  // libotr has no writer for keys alone (only inside generate_finish): this
  // writes its format, the one otrl_privkey_read_FILEp and Pidgin read.
  Result<std::string> export_keys() const {
    std::string out = "(privkeys\n";
    auto append = [&out](gcry_sexp_t sexp) {
      std::size_t len = gcry_sexp_sprint(sexp, GCRYSEXP_FMT_ADVANCED, nullptr, 0);
      std::string buf(len, '\0');
      gcry_sexp_sprint(sexp, GCRYSEXP_FMT_ADVANCED, buf.data(), len);
      out.append(buf.c_str());
      detail::wipe(buf);
    };
    for (OtrlPrivKey* p = us->privkey_root; p != nullptr; p = p->next) {
      gcry_sexp_t names = nullptr;
      gcry_sexp_t protos = nullptr;
      if (gcry_sexp_build(&names, nullptr, "(name %s)", p->accountname) != 0 ||
          gcry_sexp_build(&protos, nullptr, "(protocol %s)", p->protocol) != 0) {
        gcry_sexp_release(names);
        detail::wipe(out);
        return fail(Errc::io, "could not serialize the OTR key");
      }
      out += " (account\n";
      append(names);
      append(protos);
      append(p->privkey);
      out += " )\n";
      gcry_sexp_release(names);
      gcry_sexp_release(protos);
    }
    out += ")\n";
    return out;
  }

  // --- libotr callbacks (never throw into C) ---------------------------------

  static Impl* self(void* opdata) { return static_cast<Impl*>(opdata); }

  static OtrlPolicy cb_policy(void* opdata, ConnContext* ctx) {
    try {
      return self(opdata)->flags_of(ctx->username);
    } catch (...) {
      return OTRL_POLICY_NEVER;
    }
  }

  static void cb_create_privkey(void* opdata, const char*, const char*) {
    try {
      Impl* s = self(opdata);
      if (!s->receiving.empty()) s->keyless_peers.insert(s->receiving);
      s->problem(s->receiving, Problem::no_key, "generate a key for this account");
    } catch (...) {
    }
  }

  static int cb_is_logged_in(void* opdata, const char*, const char*, const char* recipient) {
    try {
      const PeerInfo* info = self(opdata)->find_peer(recipient);
      return info == nullptr || info->online ? 1 : 0;
    } catch (...) {
      return -1;
    }
  }

  static void cb_inject(void* opdata, const char*, const char*, const char* recipient,
                        const char* message) {
    try {
      Impl* s = self(opdata);
      if (message == nullptr || *message == '\0') return;
      if (s->capture != nullptr) {
        s->capture->emplace_back(message);
      } else {
        s->pending.push_back(Output{Send{s->route_of(recipient), message}});
      }
    } catch (...) {
      log::error(kModule, "could not queue an OTR message for sending");
    }
  }

  static void cb_new_fingerprint(void* opdata, OtrlUserState, const char*, const char*,
                                 const char* username, unsigned char fingerprint[20]) {
    try {
      Impl* s = self(opdata);
      std::vector<std::string> known;
      if (ConnContext* m = s->master(username)) {
        for (Fingerprint* fp = m->fingerprint_root.next; fp != nullptr; fp = fp->next) {
          if (fp->fingerprint != nullptr && std::memcmp(fp->fingerprint, fingerprint, 20) != 0) {
            known.push_back(to_human(fp->fingerprint));
          }
        }
      }
      if (known.empty()) {
        s->emit(NewFingerprint{username, to_human(fingerprint)});
      } else {
        log::warn(kModule, "a contact's OTR key changed");
        s->emit(KeyChanged{username, to_human(fingerprint), std::move(known)});
      }
    } catch (...) {
    }
  }

  static void cb_write_fingerprints(void* opdata) { self(opdata)->trust_dirty = true; }

  static void cb_gone_secure(void* opdata, ConnContext* ctx) {
    try {
      self(opdata)->peer(ctx->username).flush = true;
    } catch (...) {
    }
  }

  static int cb_max_message_size(void* opdata, ConnContext* ctx) {
    try {
      Impl* s = self(opdata);
      const PeerInfo* info = s->find_peer(ctx->username);
      std::size_t mms =
          info && info->max_message_size ? *info->max_message_size : s->options.max_message_size;
      return static_cast<int>(mms);
    } catch (...) {
      return 0;
    }
  }

  static const char* cb_error_message(void*, ConnContext*, OtrlErrorCode code) {
    const char* text = "an OTR error occurred";
    switch (code) {
      case OTRL_ERRCODE_ENCRYPTION_ERROR:
        text = "the message could not be encrypted";
        break;
      case OTRL_ERRCODE_MSG_NOT_IN_PRIVATE:
        text = "you sent an encrypted message, but we are not in a private conversation";
        break;
      case OTRL_ERRCODE_MSG_UNREADABLE:
        text = "you sent an unreadable encrypted message";
        break;
      case OTRL_ERRCODE_MSG_MALFORMED:
        text = "you sent a malformed message";
        break;
      case OTRL_ERRCODE_NONE:
        break;
    }
    return strdup(text);
  }

  static void cb_error_message_free(void*, const char* text) { std::free(const_cast<char*>(text)); }

  static void cb_smp_event(void* opdata, OtrlSMPEvent event, ConnContext* ctx,
                           unsigned short percent, char* question) {
    try {
      Impl* s = self(opdata);
      SmpStage stage = SmpStage::in_progress;
      switch (event) {
        case OTRL_SMPEVENT_ASK_FOR_ANSWER:
          stage = SmpStage::asked_question;
          break;
        case OTRL_SMPEVENT_ASK_FOR_SECRET:
          stage = SmpStage::asked_secret;
          break;
        case OTRL_SMPEVENT_IN_PROGRESS:
          stage = SmpStage::in_progress;
          break;
        case OTRL_SMPEVENT_SUCCESS:
          stage = SmpStage::succeeded;
          break;
        case OTRL_SMPEVENT_FAILURE:
          stage = SmpStage::failed;
          break;
        case OTRL_SMPEVENT_ABORT:
          stage = SmpStage::aborted;
          break;
        case OTRL_SMPEVENT_CHEATED:
        case OTRL_SMPEVENT_ERROR:
          stage = SmpStage::error;
          s->peer(ctx->username).abort_smp = true;  // as libotr's message.h asks
          break;
        case OTRL_SMPEVENT_NONE:
          return;
      }
      s->emit(SmpProgress{ctx->username, stage, percent,
                          question != nullptr ? std::string(question) : std::string()});
    } catch (...) {
    }
  }

  static void cb_msg_event(void* opdata, OtrlMessageEvent event, ConnContext* ctx,
                           const char* message, gcry_error_t err) {
    try {
      Impl* s = self(opdata);
      std::string key = ctx != nullptr ? ctx->username : "";
      switch (event) {
        case OTRL_MSGEVENT_ENCRYPTION_ERROR:
          s->problem(key, Problem::encryption_failed);
          break;
        case OTRL_MSGEVENT_CONNECTION_ENDED:
          s->problem(key, Problem::ended_by_peer);
          break;
        case OTRL_MSGEVENT_SETUP_ERROR:
          s->problem(key, Problem::setup_failed, err != 0 ? gcry_strerror(err) : "");
          break;
        case OTRL_MSGEVENT_MSG_REFLECTED:
          s->problem(key, Problem::reflected);
          break;
        case OTRL_MSGEVENT_RCVDMSG_NOT_IN_PRIVATE:
          s->problem(key, Problem::not_in_private);
          break;
        case OTRL_MSGEVENT_RCVDMSG_UNREADABLE:
          s->problem(key, Problem::undecryptable);
          break;
        case OTRL_MSGEVENT_RCVDMSG_MALFORMED:
          s->problem(key, Problem::malformed);
          break;
        case OTRL_MSGEVENT_RCVDMSG_GENERAL_ERR:
          s->problem(key, Problem::peer_error, message ? message : "");
          break;
        case OTRL_MSGEVENT_RCVDMSG_UNENCRYPTED:
          s->problem(key, Problem::unencrypted);
          if (message != nullptr) s->unencrypted_text = message;
          break;
        case OTRL_MSGEVENT_RCVDMSG_UNRECOGNIZED:
          s->problem(key, Problem::unrecognized);
          break;
        case OTRL_MSGEVENT_RCVDMSG_FOR_OTHER_INSTANCE:
          s->problem(key, Problem::other_instance);
          break;
        case OTRL_MSGEVENT_NONE:
        case OTRL_MSGEVENT_ENCRYPTION_REQUIRED:  // our own queue handles "require"
        case OTRL_MSGEVENT_MSG_RESENT:
        case OTRL_MSGEVENT_LOG_HEARTBEAT_RCVD:
        case OTRL_MSGEVENT_LOG_HEARTBEAT_SENT:
          break;
      }
    } catch (...) {
    }
  }

  static void cb_create_instag(void* opdata, const char* account, const char* protocol) {
    try {
      Impl* s = self(opdata);
      auto done = detail::with_memory_file(
          {}, [&](FILE* f) { return otrl_instag_generate_FILEp(s->us, f, account, protocol); });
      if (done) s->instags_dirty = true;
    } catch (...) {
    }
  }

  static void cb_convert(void* opdata, ConnContext*, OtrlConvertType type, char** dest,
                         const char*) {
    *dest = nullptr;
    if (type == OTRL_CONVERT_RECEIVING) self(opdata)->decrypted = true;
  }

  static void cb_convert_free(void*, ConnContext*, char*) {}

  static void cb_timer(void* opdata, unsigned int interval) {
    try {
      Impl* s = self(opdata);
      s->timer_interval = interval;
      if (interval == 0) {
        s->deadline.reset();
      } else {
        s->deadline = s->clock() + std::chrono::seconds(interval);
      }
    } catch (...) {
    }
  }

  void install_ops() {
    ops.policy = &cb_policy;
    ops.create_privkey = &cb_create_privkey;
    ops.is_logged_in = &cb_is_logged_in;
    ops.inject_message = &cb_inject;
    ops.new_fingerprint = &cb_new_fingerprint;
    ops.write_fingerprints = &cb_write_fingerprints;
    ops.gone_secure = &cb_gone_secure;
    ops.max_message_size = &cb_max_message_size;
    ops.otr_error_message = &cb_error_message;
    ops.otr_error_message_free = &cb_error_message_free;
    ops.handle_smp_event = &cb_smp_event;
    ops.handle_msg_event = &cb_msg_event;
    ops.create_instag = &cb_create_instag;
    ops.convert_msg = &cb_convert;
    ops.convert_free = &cb_convert_free;
    ops.timer_control = &cb_timer;
  }

  // Sends an OTR query ("?OTRv23?") to the peer through the send callback.
  Result<void> send_query(std::string_view key) {
    if (flags_of(key) == OTRL_POLICY_NEVER) {
      return fail(Errc::not_allowed, "OTR is turned off (no protocol version allowed)");
    }
    if (otrl_privkey_find(us, options.account.c_str(), options.protocol.c_str()) == nullptr) {
      return fail(Errc::not_found, "this account has no OTR key yet; generate one first");
    }
    std::string k(key);
    char* message = nullptr;
    gcry_error_t err =
        otrl_message_sending(us, &ops, this, options.account.c_str(), options.protocol.c_str(),
                             k.c_str(), OTRL_INSTAG_BEST, "?OTR?", nullptr, &message,
                             OTRL_FRAGMENT_SEND_ALL, nullptr, nullptr, nullptr);
    if (message != nullptr) otrl_message_free(message);
    if (err != 0)
      return fail(Errc::protocol, std::string("could not start OTR: ") + gcry_strerror(err));
    peer(key).query_sent = true;
    return {};
  }
};

// A scope that runs Impl::drain() when the public call ends.
namespace {
struct Drain {
  Engine::Impl& impl;
  ~Drain() { impl.drain(); }
};
}  // namespace

// ---------------------------------------------------------------------------

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(Options options, Callbacks callbacks) {
  if (auto ok = init_libotr(); !ok) return tl::make_unexpected(ok.error());
  if (options.account.empty() || has_nul(options.account) || options.protocol.empty() ||
      has_nul(options.protocol)) {
    return fail(Errc::invalid_argument, "an OTR engine needs an account address and a protocol");
  }
  auto impl = std::make_unique<Impl>();
  if (options.max_message_size != 0) {
    options.max_message_size = std::max(options.max_message_size, kMinMessageSize);
  }
  if (options.clock) impl->clock = options.clock;
  impl->options = std::move(options);
  impl->callbacks = std::move(callbacks);
  impl->us = otrl_userstate_create();
  if (impl->us == nullptr) return fail(Errc::io, "out of memory creating the OTR state");
  impl->install_ops();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::set_policy(Policy policy) { impl_->options.policy = policy; }
void Engine::set_policy(std::string_view peer, Policy policy) {
  impl_->peer(impl_->key_of(peer)).policy = policy;
}
void Engine::clear_policy(std::string_view peer) {
  impl_->peer(impl_->key_of(peer)).policy.reset();
}
Policy Engine::policy(std::string_view peer) const { return impl_->policy_of(impl_->key_of(peer)); }
void Engine::set_versions(Versions versions) { impl_->options.versions = versions; }
void Engine::set_max_message_size(std::size_t bytes) {
  impl_->options.max_message_size = bytes == 0 ? 0 : std::max(bytes, kMinMessageSize);
}
void Engine::set_max_message_size(std::string_view peer, std::size_t bytes) {
  impl_->peer(impl_->key_of(peer)).max_message_size =
      bytes == 0 ? 0 : std::max(bytes, kMinMessageSize);
}
void Engine::set_online(std::string_view peer, bool online) {
  impl_->peer(impl_->key_of(peer)).online = online;
}

Result<Outgoing> Engine::outgoing(std::string_view peer, std::string_view text,
                                  std::string_view tag) {
  Impl& s = *impl_;
  if (peer.empty() || has_nul(peer)) return fail(Errc::invalid_argument, "no recipient");
  if (has_nul(text)) return fail(Errc::invalid_argument, "the message contains a NUL character");
  Drain drain{s};
  std::string key = s.key_of(peer);
  PeerInfo& info = s.peer(key);
  if (peer.size() != key.size()) info.route = std::string(peer);
  Policy policy = s.policy_of(key);
  ConnContext* ctx = s.best(key);
  bool encrypted = ctx != nullptr && ctx->msgstate == OTRL_MSGSTATE_ENCRYPTED;

  Outgoing out;
  if (policy == Policy::require && (!encrypted || !info.queue.empty())) {
    bool first = info.queue.empty();
    info.queue.emplace_back(std::string(text), std::string(tag));
    std::string reason = "not sent yet: the conversation is not private; ";
    if (first) {
      auto started = s.send_query(key);
      reason += started ? "OTR has been started and the message goes out once private"
                        : started.error().message;
    } else {
      reason += "waiting for OTR to finish starting";
    }
    s.emit(MessageQueued{key, info.queue.size(), std::move(reason)});
    out.status = Outgoing::Status::queued;
    return out;
  }
  if (policy == Policy::always && !encrypted && !info.query_sent) {
    (void)s.send_query(key);  // best effort; the message itself still goes out
  }

  char* message = nullptr;
  s.capture = &out.bodies;
  std::string t(text);
  gcry_error_t err =
      otrl_message_sending(s.us, &s.ops, &s, s.options.account.c_str(), s.options.protocol.c_str(),
                           key.c_str(), s.target_instance(key), t.c_str(), nullptr, &message,
                           OTRL_FRAGMENT_SEND_ALL, &ctx, nullptr, nullptr);
  s.capture = nullptr;
  bool libotr_changed = message != nullptr;
  if (message != nullptr) {
    detail::wipe(message);
    otrl_message_free(message);
  }
  if (err != 0) {
    for (auto& b : out.bodies) detail::wipe(b);
    detail::wipe(t);
    return fail(Errc::protocol,
                std::string("OTR could not prepare the message: ") + gcry_strerror(err));
  }
  if (!libotr_changed) {
    // libotr leaves plain text alone (manual policy, OTR off, offer refused):
    // send it unchanged, but never when a private state says otherwise.
    if (ctx != nullptr && ctx->msgstate != OTRL_MSGSTATE_PLAINTEXT) {
      detail::wipe(t);
      out.status = Outgoing::Status::refused;
      return out;
    }
    out.bodies.push_back(std::move(t));
    return out;
  }
  detail::wipe(t);
  if (out.bodies.empty()) out.status = Outgoing::Status::refused;  // e.g. finished
  return out;
}

Result<Incoming> Engine::incoming(std::string_view from, std::string_view body) {
  Impl& s = *impl_;
  if (from.empty() || has_nul(from)) return fail(Errc::invalid_argument, "no sender");
  Drain drain{s};
  std::string key = s.key_of(from);
  PeerInfo& info = s.peer(key);
  if (from.size() != key.size()) info.route = std::string(from);
  if (has_nul(body)) {
    s.problem(key, Problem::malformed, "the message contains a NUL character");
    return Incoming{};
  }
  std::string b(body);
  char* message = nullptr;
  OtrlTLV* tlvs = nullptr;
  s.decrypted = false;
  s.unencrypted_text.reset();
  s.receiving = key;
  int ignore = otrl_message_receiving(s.us, &s.ops, &s, s.options.account.c_str(),
                                      s.options.protocol.c_str(), key.c_str(), b.c_str(), &message,
                                      &tlvs, nullptr, nullptr, nullptr);
  s.receiving.clear();
  if (tlvs != nullptr) otrl_tlv_free(tlvs);
  Incoming in;
  if (ignore != 0) {
    if (s.unencrypted_text) {
      in.text = std::move(*s.unencrypted_text);
      s.unencrypted_text.reset();
    }
  } else if (message != nullptr) {
    in.encrypted = s.decrypted;
    if (*message != '\0' || !s.decrypted) in.text = std::string(message);
  } else if (!s.decrypted) {
    in.text = std::move(b);
  }
  if (message != nullptr) {
    detail::wipe(message);
    otrl_message_free(message);
  }
  detail::wipe(b);
  return in;
}

Result<void> Engine::start(std::string_view peer) {
  if (peer.empty() || has_nul(peer)) return fail(Errc::invalid_argument, "no contact");
  Drain drain{*impl_};
  std::string key = impl_->key_of(peer);
  if (peer.size() != key.size()) impl_->peer(key).route = std::string(peer);
  return impl_->send_query(key);
}

void Engine::end(std::string_view peer) {
  Drain drain{*impl_};
  std::string key = impl_->key_of(peer);
  otrl_message_disconnect_all_instances(impl_->us, &impl_->ops, impl_.get(),
                                        impl_->options.account.c_str(),
                                        impl_->options.protocol.c_str(), key.c_str());
  PeerInfo& info = impl_->peer(key);
  for (const SecretString& queued : info.queue) {
    impl_->emit(QueuedMessageDone{key, queued.tag, false});
  }
  info.queue.clear();
}

State Engine::state(std::string_view peer) const {
  return Impl::state_of(impl_->best(impl_->key_of(peer)));
}

std::size_t Engine::queued(std::string_view peer) const {
  const PeerInfo* info = impl_->find_peer(impl_->key_of(peer));
  return info ? info->queue.size() : 0;
}

namespace {
Result<ConnContext*> private_context(ConnContext* ctx) {
  if (ctx == nullptr || ctx->msgstate != OTRL_MSGSTATE_ENCRYPTED) {
    return fail(Errc::not_allowed, "start a private conversation first");
  }
  return ctx;
}
}  // namespace

Result<void> Engine::smp_ask(std::string_view peer, std::string_view question,
                             std::string_view answer) {
  if (has_nul(question) || has_nul(answer)) return fail(Errc::invalid_argument, "NUL in SMP text");
  std::string key = impl_->key_of(peer);
  auto ctx = private_context(impl_->best(key));
  if (!ctx) return tl::make_unexpected(ctx.error());
  Drain drain{*impl_};
  std::string q(question);
  otrl_message_initiate_smp_q(impl_->us, &impl_->ops, impl_.get(), *ctx, q.c_str(),
                              reinterpret_cast<const unsigned char*>(answer.data()), answer.size());
  return {};
}

Result<void> Engine::smp_secret(std::string_view peer, std::string_view secret) {
  std::string key = impl_->key_of(peer);
  auto ctx = private_context(impl_->best(key));
  if (!ctx) return tl::make_unexpected(ctx.error());
  Drain drain{*impl_};
  otrl_message_initiate_smp(impl_->us, &impl_->ops, impl_.get(), *ctx,
                            reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  return {};
}

Result<void> Engine::smp_respond(std::string_view peer, std::string_view answer) {
  std::string key = impl_->key_of(peer);
  auto ctx = private_context(impl_->best(key));
  if (!ctx) return tl::make_unexpected(ctx.error());
  Drain drain{*impl_};
  otrl_message_respond_smp(impl_->us, &impl_->ops, impl_.get(), *ctx,
                           reinterpret_cast<const unsigned char*>(answer.data()), answer.size());
  return {};
}

Result<void> Engine::smp_abort(std::string_view peer) {
  std::string key = impl_->key_of(peer);
  auto ctx = private_context(impl_->best(key));
  if (!ctx) return tl::make_unexpected(ctx.error());
  Drain drain{*impl_};
  otrl_message_abort_smp(impl_->us, &impl_->ops, impl_.get(), *ctx);
  impl_->emit(SmpProgress{key, SmpStage::aborted, 0, {}});
  return {};
}

std::optional<std::string> Engine::fingerprint() const {
  char human[OTRL_PRIVKEY_FPRINT_HUMAN_LEN];
  if (otrl_privkey_fingerprint(impl_->us, human, impl_->options.account.c_str(),
                               impl_->options.protocol.c_str()) == nullptr) {
    return std::nullopt;
  }
  return std::string(human);
}

std::optional<std::string> Engine::peer_fingerprint(std::string_view peer) const {
  ConnContext* ctx = impl_->best(impl_->key_of(peer));
  if (ctx == nullptr || ctx->active_fingerprint == nullptr ||
      ctx->active_fingerprint->fingerprint == nullptr) {
    return std::nullopt;
  }
  return to_human(ctx->active_fingerprint->fingerprint);
}

std::vector<KnownFingerprint> Engine::known_fingerprints() const {
  std::vector<KnownFingerprint> out;
  const Impl& s = *impl_;
  for (ConnContext* ctx = s.us->context_root; ctx != nullptr; ctx = ctx->next) {
    if (ctx->their_instance != OTRL_INSTAG_MASTER) continue;
    if (s.options.account != ctx->accountname || s.options.protocol != ctx->protocol) continue;
    for (Fingerprint* fp = ctx->fingerprint_root.next; fp != nullptr; fp = fp->next) {
      bool active = false;
      for (ConnContext* c = ctx; c != nullptr && c->m_context == ctx; c = c->next) {
        if (c->active_fingerprint == fp && c->msgstate == OTRL_MSGSTATE_ENCRYPTED) active = true;
      }
      out.push_back(KnownFingerprint{ctx->username, to_human(fp->fingerprint),
                                     otrl_context_is_fingerprint_trusted(fp) != 0, active});
    }
  }
  return out;
}

namespace {
Fingerprint* find_fingerprint(ConnContext* master, std::string_view human) {
  if (master == nullptr) return nullptr;
  std::string wanted = normalize_fingerprint(human);
  for (Fingerprint* fp = master->fingerprint_root.next; fp != nullptr; fp = fp->next) {
    if (normalize_fingerprint(to_human(fp->fingerprint)) == wanted) return fp;
  }
  return nullptr;
}
}  // namespace

Result<void> Engine::set_verified(std::string_view peer, std::string_view fingerprint,
                                  bool verified) {
  Drain drain{*impl_};
  Fingerprint* fp = find_fingerprint(impl_->master(impl_->key_of(peer)), fingerprint);
  if (fp == nullptr) return fail(Errc::not_found, "no such fingerprint for this contact");
  otrl_context_set_trust(fp, verified ? "verified" : "");
  impl_->trust_dirty = true;
  return {};
}

Result<void> Engine::forget(std::string_view peer, std::string_view fingerprint) {
  Drain drain{*impl_};
  ConnContext* master = impl_->master(impl_->key_of(peer));
  Fingerprint* fp = find_fingerprint(master, fingerprint);
  if (fp == nullptr) return fail(Errc::not_found, "no such fingerprint for this contact");
  for (ConnContext* c = master; c != nullptr && c->m_context == master; c = c->next) {
    if (c->active_fingerprint == fp && c->msgstate != OTRL_MSGSTATE_PLAINTEXT) {
      return fail(Errc::not_allowed,
                  "this fingerprint is in use; end the private conversation first");
    }
  }
  // libotr only guards the master's pointer; clear the children's too.
  for (ConnContext* c = master; c != nullptr && c->m_context == master; c = c->next) {
    if (c->active_fingerprint == fp) c->active_fingerprint = nullptr;
  }
  otrl_context_forget_fingerprint(fp, 0);
  impl_->trust_dirty = true;
  return {};
}

std::vector<std::string> Engine::take_keyless_peers() {
  std::vector<std::string> peers(impl_->keyless_peers.begin(), impl_->keyless_peers.end());
  impl_->keyless_peers.clear();
  return peers;
}

Result<void> Engine::restart(std::string_view peer) {
  if (peer.empty() || has_nul(peer)) return fail(Errc::invalid_argument, "no contact");
  Drain drain{*impl_};
  std::string key = impl_->key_of(peer);
  // The key exchange that stalled for want of a key left our side waiting
  // for an answer that will not come; libotr would drop the contact's new
  // attempt against it. Start from scratch on every instance not private.
  ConnContext* master = impl_->master(key);
  for (ConnContext* c = master; c != nullptr && c->m_context == master; c = c->next) {
    if (c->msgstate != OTRL_MSGSTATE_ENCRYPTED) otrl_auth_clear(&c->auth);
  }
  return impl_->send_query(key);
}

bool Engine::has_key() const {
  return otrl_privkey_find(impl_->us, impl_->options.account.c_str(),
                           impl_->options.protocol.c_str()) != nullptr;
}

Result<KeyGeneration> Engine::begin_key_generation() {
  Impl& s = *impl_;
  if (!s.keygen_alive.expired()) {
    return fail(Errc::already_exists, "an OTR key is already being generated for this account");
  }
  otrl_privkey_pending_forget_all(s.us);  // marks left by dropped generations
  auto state = std::make_unique<KeyGeneration::State>();
  gcry_error_t err = otrl_privkey_generate_start(s.us, s.options.account.c_str(),
                                                 s.options.protocol.c_str(), &state->newkey);
  if (err != 0 || state->newkey == nullptr) {
    return fail(Errc::io, std::string("could not start OTR key generation: ") + gcry_strerror(err));
  }
  state->owner = &s;
  s.keygen_alive = state->alive;
  return KeyGeneration(std::move(state));
}

Result<void> Engine::finish_key_generation(KeyGeneration generation) {
  Impl& s = *impl_;
  auto& st = generation.state_;
  if (!st || st->newkey == nullptr || st->owner != &s) {
    return fail(Errc::invalid_argument, "this key generation does not belong to this account");
  }
  if (!st->calculated) {
    otrl_privkey_generate_cancelled(s.us, st->newkey);
    st->newkey = nullptr;
    return fail(Errc::invalid_argument, "the key was not calculated; call calculate() first");
  }
  Drain drain{s};
  void* newkey = st->newkey;
  st->newkey = nullptr;  // generate_finish frees it, whatever happens
  auto written = detail::with_memory_file(
      {}, [&](FILE* f) { return otrl_privkey_generate_finish_FILEp(s.us, newkey, f); });
  if (!written) return tl::make_unexpected(written.error());
  detail::wipe(*written);
  s.keys_dirty = true;
  return {};
}

Result<std::string> Engine::export_keys() const { return impl_->export_keys(); }

Result<void> Engine::import_keys(std::string_view blob) {
  Drain drain{*impl_};
  if (blob.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    otrl_privkey_forget_all(impl_->us);
    return {};
  }
  // Read into a scratch state first: libotr forgets every key before reading.
  OtrlUserState scratch = otrl_userstate_create();
  auto checked =
      detail::with_memory_file(blob, [&](FILE* f) { return otrl_privkey_read_FILEp(scratch, f); });
  otrl_userstate_free(scratch);
  if (!checked) return fail(Errc::invalid_argument, "this is not an OTR private key file");
  detail::wipe(*checked);
  auto read = detail::with_memory_file(
      blob, [&](FILE* f) { return otrl_privkey_read_FILEp(impl_->us, f); });
  if (!read) return tl::make_unexpected(read.error());
  detail::wipe(*read);
  return {};
}

Result<std::string> Engine::export_trust() const { return impl_->export_trust(); }

Result<void> Engine::import_trust(std::string_view blob) {
  Drain drain{*impl_};
  auto read = detail::with_memory_file(blob, [&](FILE* f) {
    return otrl_privkey_read_fingerprints_FILEp(impl_->us, f, nullptr, nullptr);
  });
  if (!read) return fail(Errc::invalid_argument, "this is not an OTR fingerprints file");
  return {};
}

Result<std::string> Engine::export_instance_tags() const { return impl_->export_instance_tags(); }

Result<void> Engine::import_instance_tags(std::string_view blob) {
  auto read =
      detail::with_memory_file(blob, [&](FILE* f) { return otrl_instag_read_FILEp(impl_->us, f); });
  if (!read) return fail(Errc::invalid_argument, "this is not an OTR instance tags file");
  return {};
}

std::optional<Engine::Clock::time_point> Engine::next_deadline() const { return impl_->deadline; }

void Engine::poll(Clock::time_point now) {
  Impl& s = *impl_;
  if (!s.deadline || now < *s.deadline) return;
  Drain drain{s};
  s.deadline.reset();
  otrl_message_poll(s.us, &s.ops, &s);
  if (s.timer_interval > 0 && !s.deadline)
    s.deadline = now + std::chrono::seconds(s.timer_interval);
}

}  // namespace sotto::otr
