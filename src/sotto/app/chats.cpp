// Chats: OTR between the Engine and each account's InstantMessaging.
//
// Every message a provider reports passes through the account's otr::Engine
// (decrypted, or swallowed when it was OTR's own traffic), and every message
// the user sends leaves through it (encrypted, held under "require", or
// plain). Keys, trust and instance tags live in the profile's otr table.
//
// Message ids: a message the user sends keeps one id from send_message() to
// its last delivery state, however many stanzas it took. Stanzas that are
// OTR's own (queries, key exchange, SMP, all but the last fragment) get ids
// starting with kInternalId, and their delivery states are not reported.
#include <algorithm>
#include <fstream>
#include <utility>

#include <asio/post.hpp>

#include "sotto/app/app.h"
#include "sotto/app/engine_impl.h"
#include "sotto/otr/pidgin.h"

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "chats";
constexpr std::string_view kInternalId = "otr-";
constexpr const char* kPolicySetting = "otr_policy";
// Encrypted bodies above this are split into OTR fragments, unless the
// account's transport asks for less (SIP MESSAGE over UDP). Servers refuse
// big stanzas (Prosody: 256 KiB by default) and close the stream on them;
// 32 KiB of base64 is far below any limit met in practice.
constexpr std::size_t kStreamFragmentBytes = 32 * 1024;
// The kinds of blobs in the profile's otr table.
constexpr std::string_view kKeys = "keys";
constexpr std::string_view kTrust = "trust";
constexpr std::string_view kInstanceTags = "instags";

otr::Policy to_otr(OtrPolicy policy) {
  switch (policy) {
    case OtrPolicy::manual:
      return otr::Policy::manual;
    case OtrPolicy::opportunistic:
      return otr::Policy::opportunistic;
    case OtrPolicy::always:
      return otr::Policy::always;
    case OtrPolicy::require:
      return otr::Policy::require;
  }
  return otr::Policy::opportunistic;
}

OtrPolicy from_otr(otr::Policy policy) {
  switch (policy) {
    case otr::Policy::manual:
      return OtrPolicy::manual;
    case otr::Policy::opportunistic:
      return OtrPolicy::opportunistic;
    case otr::Policy::always:
      return OtrPolicy::always;
    case otr::Policy::require:
      return OtrPolicy::require;
  }
  return OtrPolicy::opportunistic;
}

Privacy from_otr(otr::State state) {
  switch (state) {
    case otr::State::not_private:
      return Privacy::not_private;
    case otr::State::private_unverified:
      return Privacy::unverified;
    case otr::State::private_verified:
      return Privacy::verified;
    case otr::State::finished:
      return Privacy::finished;
  }
  return Privacy::not_private;
}

SmpStage from_otr(otr::SmpStage stage) {
  switch (stage) {
    case otr::SmpStage::asked_question:
      return SmpStage::asked_question;
    case otr::SmpStage::asked_secret:
      return SmpStage::asked_secret;
    case otr::SmpStage::in_progress:
      return SmpStage::in_progress;
    case otr::SmpStage::succeeded:
      return SmpStage::succeeded;
    case otr::SmpStage::failed:
      return SmpStage::failed;
    case otr::SmpStage::aborted:
      return SmpStage::aborted;
    case otr::SmpStage::error:
      return SmpStage::error;
  }
  return SmpStage::error;
}

std::string_view code_of(otr::Problem problem) {
  switch (problem) {
    case otr::Problem::undecryptable:
      return "undecryptable";
    case otr::Problem::malformed:
      return "malformed";
    case otr::Problem::unrecognized:
      return "unrecognized";
    case otr::Problem::not_in_private:
      return "not_in_private";
    case otr::Problem::peer_error:
      return "peer_error";
    case otr::Problem::setup_failed:
      return "setup_failed";
    case otr::Problem::encryption_failed:
      return "encryption_failed";
    case otr::Problem::ended_by_peer:
      return "ended_by_peer";
    case otr::Problem::unencrypted:
      return "unencrypted";
    case otr::Problem::reflected:
      return "reflected";
    case otr::Problem::other_instance:
      return "other_instance";
    case otr::Problem::no_key:
      return "no_key";
  }
  return "other";
}

bool is_private(otr::State state) {
  return state == otr::State::private_unverified || state == otr::State::private_verified;
}

bool is_otr_data(std::string_view body) { return body.starts_with("?OTR"); }

// OTR's whitespace tag (a base tag, then 8 characters per offered version)
// ends the plain messages of an opportunistic sender. libotr strips it from
// what it receives; the carbon copies of our own messages need it too.
constexpr std::string_view kWhitespaceTag = " \t  \t\t\t\t \t \t \t  ";

std::string without_whitespace_tag(std::string body) {
  const auto at = body.find(kWhitespaceTag);
  if (at == std::string::npos) return body;
  std::size_t end = at + kWhitespaceTag.size();
  while (end + 8 <= body.size() && body.find_first_not_of(" \t", end) >= end + 8) {
    end += 8;
  }
  body.erase(at, end - at);
  return body;
}

std::string internal_id() { return std::string(kInternalId) + random_id(12); }

// A contact's address as the user typed it: bare, lower-cased by Jid.
Result<std::string> bare_peer(const std::string& peer) {
  auto jid = Jid::parse(peer);
  if (!jid) return tl::unexpected(jid.error());
  if (jid->local().empty())
    return fail(Errc::invalid_argument, "\"" + peer + "\" is not a contact's address");
  return jid->bare_str();
}

}  // namespace

std::string_view to_string(OtrPolicy policy) {
  switch (policy) {
    case OtrPolicy::manual:
      return "manual";
    case OtrPolicy::opportunistic:
      return "opportunistic";
    case OtrPolicy::always:
      return "always";
    case OtrPolicy::require:
      return "require";
  }
  return "?";
}

std::optional<OtrPolicy> parse_otr_policy(std::string_view text) {
  for (OtrPolicy p :
       {OtrPolicy::manual, OtrPolicy::opportunistic, OtrPolicy::always, OtrPolicy::require}) {
    if (text == to_string(p)) return p;
  }
  return std::nullopt;
}

std::string_view to_string(Privacy privacy) {
  switch (privacy) {
    case Privacy::not_private:
      return "not_private";
    case Privacy::unverified:
      return "unverified";
    case Privacy::verified:
      return "verified";
    case Privacy::finished:
      return "finished";
  }
  return "?";
}

std::string_view to_string(SmpStage stage) {
  switch (stage) {
    case SmpStage::asked_question:
      return "asked_question";
    case SmpStage::asked_secret:
      return "asked_secret";
    case SmpStage::in_progress:
      return "in_progress";
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

std::string_view to_string(OtrKeyStage stage) {
  switch (stage) {
    case OtrKeyStage::generating:
      return "generating";
    case OtrKeyStage::ready:
      return "ready";
    case OtrKeyStage::failed:
      return "failed";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// The account's OTR state

OtrAccount* Engine::Impl::existing_otr(const std::string& account) {
  auto it = otr.find(account);
  return it == otr.end() ? nullptr : it->second.get();
}

Result<OtrAccount*> Engine::Impl::otr_account(const std::string& account) {
  if (OtrAccount* state = existing_otr(account)) return state;
  if (auto ok = require_unlocked(); !ok) return tl::unexpected(ok.error());
  if (find(account) == nullptr) return fail(Errc::not_found, "no account " + account);

  auto state = std::make_unique<OtrAccount>(io);
  OtrAccount* raw = state.get();
  otr::Options options;
  options.account = account;
  options.protocol = otr_protocol(account);
  options.policy = to_otr(default_otr_policy);
  options.max_message_size = otr_fragment_size(account);
  otr::Callbacks callbacks;
  callbacks.send = [raw](const std::string& to, const std::string& body) {
    raw->pending.emplace_back(OtrAccount::Send{to, body});
  };
  callbacks.on_event = [raw](const otr::Event& event) { raw->pending.emplace_back(event); };
  auto save = [this, account](std::string_view kind) {
    return [this, account, kind](const std::string& blob) {
      if (!profile || !profile->is_open()) return;
      if (auto saved = profile->set_otr_data(account, kind, blob); !saved) {
        log::error(kLog, "could not save OTR " + std::string(kind) + ": " + saved.error().message);
      }
    };
  };
  callbacks.on_keys_changed = save(kKeys);
  callbacks.on_trust_changed = save(kTrust);
  callbacks.on_instance_tags_changed = save(kInstanceTags);
  auto engine = otr::Engine::create(std::move(options), std::move(callbacks));
  if (!engine) return tl::unexpected(engine.error());
  state->engine = std::move(*engine);

  // What the profile knows, in the order libotr needs: keys, tags, trust.
  struct Blob {
    std::string_view kind;
    Result<void> (otr::Engine::*import)(std::string_view);
  };
  for (const Blob& blob : {Blob{kKeys, &otr::Engine::import_keys},
                           Blob{kInstanceTags, &otr::Engine::import_instance_tags},
                           Blob{kTrust, &otr::Engine::import_trust}}) {
    auto data = profile->otr_data(account, blob.kind);
    if (!data) return tl::unexpected(data.error());
    if (!*data) continue;
    auto imported = ((*state->engine).*blob.import)(**data);
    secure_wipe(**data);
    if (!imported) {
      return fail(Errc::io, "the stored OTR " + std::string(blob.kind) + " of " + account +
                                " could not be read: " + imported.error().message);
    }
  }
  state->pending.clear();  // imports report nothing worth sending on
  return otr.emplace(account, std::move(state)).first->second.get();
}

std::size_t Engine::Impl::otr_fragment_size(const std::string& account) {
  Provider* p = provider(account);
  auto* im = p ? p->get<InstantMessaging>() : nullptr;
  const std::size_t limit = im ? im->max_message_size() : 0;
  return limit != 0 ? limit : kStreamFragmentBytes;
}

void Engine::Impl::otr_fit_messages(const std::string& account) {
  if (OtrAccount* state = existing_otr(account))
    state->engine->set_max_message_size(otr_fragment_size(account));
}

// libotr's name for the account's protocol (keys and trust are per account
// and protocol).
std::string Engine::Impl::otr_protocol(const std::string& account) {
  StoredAccount* stored = find(account);
  return stored != nullptr ? stored->settings.protocol : "xmpp";
}

template <class F>
auto Engine::Impl::otr_call(const std::string& account, OtrAccount& state, F f) {
  // Handlers of what dispatch emits may lock the profile or remove the
  // account: `state` is looked up again afterwards.
  if constexpr (std::is_void_v<decltype(f(*state.engine))>) {
    f(*state.engine);
    otr_dispatch(account, state);
    if (OtrAccount* s = existing_otr(account)) otr_arm_timer(account, *s);
  } else {
    auto result = f(*state.engine);
    otr_dispatch(account, state);
    if (OtrAccount* s = existing_otr(account)) otr_arm_timer(account, *s);
    return result;
  }
}

PrivacyChanged Engine::Impl::privacy_event(const std::string& account, OtrAccount& state,
                                           const std::string& peer) {
  PrivacyChanged event{account, peer, from_otr(state.engine->state(peer)), 0, 0, {}, true};
  if (auto it = state.resource.find(peer); it != state.resource.end()) event.resource = it->second;
  if (auto it = state.sessions.find(peer); it != state.sessions.end()) {
    event.instance = it->second.first;
    event.version = it->second.second;
  }
  event.logging = logging_on(account, peer);
  return event;
}

void Engine::Impl::otr_dispatch(const std::string& account, OtrAccount& state) {
  // Handlers may call back into the engine (and so add to `pending`).
  std::vector<OtrAccount::Output> outputs;
  outputs.swap(state.pending);
  // `state` may be dropped by a handler (the profile locked): look it up again.
  for (auto& output : outputs) {
    if (auto* send = std::get_if<OtrAccount::Send>(&output)) {
      Provider* p = provider(account);
      auto* im = p ? p->get<InstantMessaging>() : nullptr;
      if (im == nullptr || p->state() == AccountState::offline ||
          p->state() == AccountState::failed) {
        log::debug(kLog, "an OTR message was not sent: the account is offline");
        secure_wipe(send->body);
        if (OtrAccount* s = existing_otr(account)) s->last_stanza.clear();
        continue;
      }
      std::string id = internal_id();
      if (OtrAccount* s = existing_otr(account)) s->last_stanza = id;
      im->send_message(send->to, std::move(send->body), std::move(id));
      continue;
    }
    OtrAccount* s = existing_otr(account);
    const auto& event = std::get<otr::Event>(output);
    if (const auto* changed = std::get_if<otr::StateChanged>(&event)) {
      if (s == nullptr) continue;
      if (changed->state == otr::State::not_private) {
        s->private_peers.erase(changed->peer);
        s->sessions.erase(changed->peer);
      } else {
        s->private_peers.insert(changed->peer);
        s->sessions[changed->peer] = {changed->instance, changed->protocol_version};
      }
      PrivacyChanged out = privacy_event(account, *s, changed->peer);
      out.privacy = from_otr(changed->state);
      out.instance = changed->instance;
      out.version = changed->protocol_version;
      emit(out);
    } else if (const auto* fresh = std::get_if<otr::NewFingerprint>(&event)) {
      emit(OtrNewFingerprint{account, fresh->peer, fresh->fingerprint});
    } else if (const auto* key = std::get_if<otr::KeyChanged>(&event)) {
      log::info(kLog, "a contact's OTR key changed");
      emit(OtrKeyChanged{account, key->peer, key->fingerprint, key->known_fingerprints});
    } else if (const auto* smp = std::get_if<otr::SmpProgress>(&event)) {
      emit(SmpProgress{account, smp->peer, from_otr(smp->stage), smp->percent, smp->question});
    } else if (const auto* queued = std::get_if<otr::MessageQueued>(&event)) {
      if (s != nullptr) s->held_peers.insert(queued->peer);
      emit(MessageHeld{account, queued->peer, otr_sending, queued->queued, queued->reason});
    } else if (const auto* done = std::get_if<otr::QueuedMessageDone>(&event)) {
      if (s != nullptr && s->engine->queued(done->peer) == 0) s->held_peers.erase(done->peer);
      if (done->tag.empty()) continue;
      if (done->sent) {
        // Its last stanza carries its delivery state.
        if (s != nullptr && !s->last_stanza.empty()) {
          if (s->aliases.size() > 4096) s->aliases.clear();  // peers that send no receipts
          s->aliases[s->last_stanza] = done->tag;
        }
      } else {
        emit(MessageStateChanged{
            account, done->peer, done->tag, DeliveryState::failed,
            Error{Errc::not_connected,
                  "not sent: the private conversation ended before it could go out",
                  {}}});
      }
    } else if (const auto* problem = std::get_if<otr::MessageProblem>(&event)) {
      // Traffic for our other devices is normal with several logged in; a
      // missing key while one is being made is about to be solved.
      if (problem->problem == otr::Problem::other_instance ||
          (problem->problem == otr::Problem::no_key && s != nullptr && s->generating)) {
        log::debug(kLog, std::string(otr::to_string(problem->problem)));
        continue;
      }
      std::string message(otr::to_string(problem->problem));
      if (!problem->detail.empty()) message += ": " + problem->detail;
      if (!otr_sending.empty() && (problem->problem == otr::Problem::ended_by_peer ||
                                   problem->problem == otr::Problem::encryption_failed ||
                                   problem->problem == otr::Problem::no_key)) {
        otr_refusal = message;
      }
      emit(OtrProblem{account, problem->peer, std::string(code_of(problem->problem)), message});
    }
  }
}

void Engine::Impl::otr_arm_timer(const std::string& account, OtrAccount& state) {
  auto deadline = state.engine->next_deadline();
  if (!deadline) {
    state.timer.cancel();
    return;
  }
  state.timer.expires_at(*deadline);
  state.timer.async_wait([this, account](std::error_code ec) {
    if (ec) return;
    if (OtrAccount* s = existing_otr(account)) {
      otr_call(account, *s, [](otr::Engine& e) { e.poll(otr::Engine::Clock::now()); });
    }
  });
}

Result<void> Engine::Impl::otr_load_policy(const std::string& account, OtrAccount& state,
                                           const std::string& peer) {
  if (state.own_policy.contains(peer)) return {};
  auto own = profile->contact_setting(account, peer, kPolicySetting);
  if (!own) {
    log::warn(kLog, "could not read a contact's OTR policy: " + own.error().message);
    return tl::unexpected(own.error());  // tried again next time
  }
  std::optional<OtrPolicy> policy = *own ? parse_otr_policy(**own) : std::nullopt;
  state.own_policy[peer] = policy.has_value();
  if (policy) state.engine->set_policy(peer, to_otr(*policy));
  return {};
}

void Engine::Impl::otr_forget(const std::string& account) {
  auto it = otr.find(account);
  if (it == otr.end()) return;
  std::unique_ptr<OtrAccount> gone = std::move(it->second);
  otr.erase(it);
  gone->timer.cancel();
  auto waiters = std::move(gone->key_waiters);
  gone.reset();
  for (auto& waiter : waiters) waiter(fail(Errc::cancelled, "the account's OTR state was closed"));
}

void Engine::Impl::otr_end_all(const std::string& account) {
  OtrAccount* state = existing_otr(account);
  if (state == nullptr) return;
  // Private conversations are ended; messages still held are dropped, and
  // reported failed (they would otherwise stay "queued" in history).
  std::set<std::string> peers = state->private_peers;
  peers.insert(state->held_peers.begin(), state->held_peers.end());
  for (const std::string& peer : peers) {
    if (OtrAccount* s = existing_otr(account)) {
      otr_call(account, *s, [&](otr::Engine& e) { e.end(peer); });
    }
  }
  // Going offline: nothing is left for libotr's clean-up timer, and a
  // pending wait would keep the core thread from going idle.
  if (OtrAccount* s = existing_otr(account)) s->timer.cancel();
}

void Engine::Impl::otr_announce_logging(const std::string& account, const std::string& peer) {
  std::vector<PrivacyChanged> events;  // handlers may change what is iterated
  for (auto& [address, state] : otr) {
    if (!account.empty() && address != account) continue;
    for (const std::string& p : state->private_peers) {
      if (!peer.empty() && p != peer) continue;
      events.push_back(privacy_event(address, *state, p));
    }
  }
  for (const PrivacyChanged& event : events) emit(event);
}

// ---------------------------------------------------------------------------
// Messages through OTR

void Engine::Impl::on_provider_event(Event event) {
  if (auto* received = std::get_if<MessageReceived>(&event)) {
    if (is_otr_data(received->body) && (received->outgoing || received->carbon)) {
      // A copy of another of our devices' traffic: its session, not ours;
      // answering it would race that device. (What the archive gives back
      // after a lost stream is ours and recent: it goes through OTR in order,
      // or a key exchange cut by the drop would never finish.)
      log::debug(kLog, "dropped OTR data from a carbon copy");
      secure_wipe(received->body);
      return;
    }
    if (!received->outgoing && !received->carbon) return otr_receive(std::move(*received));
    // Plain copies are shown as they are, without starting OTR from them.
    received->body = without_whitespace_tag(std::move(received->body));
  } else if (auto* changed = std::get_if<MessageStateChanged>(&event)) {
    if (changed->id.starts_with(kInternalId)) {
      OtrAccount* state = existing_otr(changed->account);
      if (state == nullptr) return;
      auto alias = state->aliases.find(changed->id);
      if (alias == state->aliases.end()) return;  // OTR's own traffic
      changed->id = alias->second;
      if (changed->state == DeliveryState::delivered || changed->state == DeliveryState::failed)
        state->aliases.erase(alias);
      if (changed->state == DeliveryState::queued) return;  // reported when it was held
    }
  } else if (const auto* presence = std::get_if<PresenceChanged>(&event)) {
    if (OtrAccount* state = existing_otr(presence->account)) {
      auto& resources = state->online[presence->address];
      if (presence->availability == Availability::offline) {
        resources.erase(presence->resource);
      } else {
        resources.insert(presence->resource);
      }
      state->engine->set_online(presence->address, !resources.empty());
      if (resources.empty()) state->online.erase(presence->address);
    }
  } else if (const auto* account = std::get_if<AccountStateChanged>(&event)) {
    const std::string address = account->account;
    const bool online = account->state == AccountState::online;
    emit(event);
    if (!online || !otr_keys_on_connect) return;
    // A key is needed before anyone can talk privately to this account.
    auto state = otr_account(address);
    if (!state) {
      log::error(kLog, "OTR is not available for this account: " + state.error().message);
      return;
    }
    if (!(*state)->engine->has_key() && !(*state)->generating) {
      generate_key(address, [](Result<std::string>) {});
    }
    return;
  }
  emit(event);
}

void Engine::Impl::otr_receive(MessageReceived message) {
  auto state = otr_account(message.account);
  if (!state) {
    // Without OTR state nothing may be decrypted, and OTR data is no message.
    log::error(kLog, "a message could not pass through OTR: " + state.error().message);
    if (!is_otr_data(message.body)) emit(message);
    secure_wipe(message.body);
    return;
  }
  OtrAccount& s = **state;
  (void)otr_load_policy(message.account, s, message.peer);
  // Only OTR's own traffic (data, queries, whitespace-tagged offers) says
  // which of the contact's devices holds the conversation; a plain message
  // from another device must not divert it there.
  const bool otr_traffic =
      is_otr_data(message.body) || message.body.find(kWhitespaceTag) != std::string::npos;
  std::string from = message.peer;
  if (otr_traffic && !message.resource.empty()) {
    s.resource[message.peer] = message.resource;
    from += "/" + message.resource;
  }
  auto in =
      otr_call(message.account, s, [&](otr::Engine& e) { return e.incoming(from, message.body); });
  secure_wipe(message.body);
  if (!in) {
    log::warn(kLog, "an incoming message was dropped: " + in.error().message);
    return;
  }
  if (!in->text) return;  // OTR's own
  message.body = std::move(*in->text);
  message.encrypted = in->encrypted;
  emit(message);
  secure_wipe(message.body);
}

Result<SentMessage> Engine::Impl::otr_send(const std::string& account, InstantMessaging& im,
                                           const Jid& to, std::string body) {
  auto state = otr_account(account);
  if (!state) {
    secure_wipe(body);
    return tl::unexpected(state.error());
  }
  OtrAccount& s = **state;
  const std::string peer = to.bare_str();
  if (auto loaded = otr_load_policy(account, s, peer); !loaded) {
    secure_wipe(body);
    return fail(Errc::io, "not sent: the contact's privacy settings could not be read (" +
                              loaded.error().message + ")");
  }
  // Private conversations are with one device: talk to it, not to whichever
  // the server picks for the bare address.
  std::string target = to.str();
  const bool was_private = is_private(s.engine->state(peer));
  if (to.is_bare() && s.engine->state(peer) != otr::State::not_private) {
    if (auto it = s.resource.find(peer); it != s.resource.end() && !it->second.empty())
      target = peer + "/" + it->second;
  }
  SentMessage sent;
  sent.id = random_id(16);
  // A handler may send too, from inside this call: restore what it changes.
  std::string outer_sending = std::exchange(otr_sending, sent.id);
  std::string outer_refusal = std::exchange(otr_refusal, {});
  auto out =
      otr_call(account, s, [&](otr::Engine& e) { return e.outgoing(target, body, sent.id); });
  otr_sending = std::move(outer_sending);
  std::string refusal = std::exchange(otr_refusal, std::move(outer_refusal));
  const bool logging = logging_on(account, peer);
  if (!out) {
    secure_wipe(body);
    return tl::unexpected(out.error());
  }
  switch (out->status) {
    case otr::Outgoing::Status::refused: {
      secure_wipe(body);
      std::string why = refusal.empty()
                            ? "not sent: the contact ended the private conversation; end it "
                              "or start it again first"
                            : "not sent: " + refusal;
      return fail(Errc::not_allowed, std::move(why));
    }
    case otr::Outgoing::Status::queued:
      sent.held = true;
      sent.encrypted = true;  // it leaves encrypted or not at all
      emit(MessageStateChanged{account, peer, sent.id, DeliveryState::queued, std::nullopt});
      break;
    case otr::Outgoing::Status::send: {
      sent.encrypted = was_private;
      // What OTR's handlers did meanwhile may have taken the account away.
      Provider* p = provider(account);
      InstantMessaging* live = p ? p->get<InstantMessaging>() : nullptr;
      if (live != &im) {
        for (auto& b : out->bodies) secure_wipe(b);
        secure_wipe(body);
        return fail(Errc::not_connected, "not sent: " + account + " went offline");
      }
      const std::size_t n = out->bodies.size();
      for (std::size_t i = 0; i < n; ++i) {
        im.send_message(target, std::move(out->bodies[i]), i + 1 == n ? sent.id : internal_id());
      }
      break;
    }
  }
  if (logging) log_sent(account, peer, sent.id, body, sent.encrypted);
  secure_wipe(body);
  return sent;
}

// ---------------------------------------------------------------------------
// Engine: private conversations

OtrPolicy Engine::otr_policy() const { return impl_->default_otr_policy; }

Result<void> Engine::set_otr_policy(OtrPolicy policy) {
  if (auto ok = impl_->require_unlocked(); !ok) return ok;
  if (auto saved = impl_->profile->set_setting(kPolicySetting, to_string(policy)); !saved)
    return saved;
  impl_->default_otr_policy = policy;
  for (auto& [address, state] : impl_->otr) state->engine->set_policy(to_otr(policy));
  return {};
}

Result<std::optional<OtrPolicy>> Engine::contact_otr_policy(const std::string& account,
                                                            const std::string& peer) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  if (impl_->find(account) == nullptr) return fail(Errc::not_found, "no account " + account);
  auto own = impl_->profile->contact_setting(account, *bare, kPolicySetting);
  if (!own) return tl::unexpected(own.error());
  if (!*own) return std::optional<OtrPolicy>();
  return parse_otr_policy(**own);
}

Result<void> Engine::set_contact_otr_policy(const std::string& account, const std::string& peer,
                                            std::optional<OtrPolicy> policy) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  std::optional<std::string> value;
  if (policy) value = std::string(to_string(*policy));
  if (auto saved = impl_->profile->set_contact_setting(account, *bare, kPolicySetting, value);
      !saved)
    return saved;
  (*state)->own_policy[*bare] = policy.has_value();
  if (policy) {
    (*state)->engine->set_policy(*bare, to_otr(*policy));
  } else {
    (*state)->engine->clear_policy(*bare);
  }
  return {};
}

void Engine::set_otr_keys_on_connect(bool on) { impl_->otr_keys_on_connect = on; }

void Engine::generate_otr_key(const std::string& account,
                              std::function<void(Result<std::string>)> done) {
  impl_->generate_key(account, std::move(done));
}

void Engine::Impl::generate_key(const std::string& account,
                                std::function<void(Result<std::string>)> done) {
  auto state = otr_account(account);
  if (!state) return done(tl::unexpected(state.error()));
  OtrAccount& s = **state;
  s.key_waiters.push_back(std::move(done));
  if (s.generating) return;
  auto generation = s.engine->begin_key_generation();
  if (!generation) {
    auto waiters = std::move(s.key_waiters);
    s.key_waiters.clear();
    for (auto& waiter : waiters) waiter(tl::unexpected(generation.error()));
    return;
  }
  s.generating = true;
  std::weak_ptr<int> epoch = s.epoch;
  const int number = next_otr_worker++;
  otr_workers.emplace(
      number,
      std::thread([this, number, account, epoch, token = std::weak_ptr<int>(alive),
                   executor = io.get_executor(), generation = std::move(*generation)]() mutable {
        Result<void> calculated = generation.calculate();
        asio::post(executor,
                   [this, number, account, epoch, token, calculated = std::move(calculated),
                    generation = std::move(generation)]() mutable {
                     if (!token.lock()) return;  // the engine is gone
                     if (auto it = otr_workers.find(number); it != otr_workers.end()) {
                       it->second.join();
                       otr_workers.erase(it);
                     }
                     finish_key(account, epoch, std::move(generation), std::move(calculated));
                   });
      }));
  emit(OtrKeyState{account, OtrKeyStage::generating, {}, std::nullopt});
}

void Engine::Impl::finish_key(const std::string& account, const std::weak_ptr<int>& epoch,
                              otr::KeyGeneration generation, Result<void> calculated) {
  OtrAccount* s = existing_otr(account);
  // Locked or removed meanwhile (and perhaps opened again): the key is dropped.
  if (s == nullptr || epoch.lock() != s->epoch) return;
  s->generating = false;
  Result<std::string> result = fail(Errc::io, "no key");
  if (!calculated) {
    result = tl::unexpected(calculated.error());
  } else {
    auto finished = otr_call(account, *s, [&](otr::Engine& e) {
      return e.finish_key_generation(std::move(generation));
    });
    s = existing_otr(account);
    if (!finished) {
      result = tl::unexpected(finished.error());
    } else if (auto fp = s ? s->engine->fingerprint() : std::nullopt) {
      result = *fp;
    }
  }
  if (result) {
    log::info(kLog, "a new OTR key is ready");
    emit(OtrKeyState{account, OtrKeyStage::ready, *result, std::nullopt});
    // Contacts who tried to go private while the key was being made got no
    // answer (there was nothing to answer with): ask them now.
    Provider* online = provider(account);
    s = existing_otr(account);
    if (s != nullptr && online != nullptr && online->state() == AccountState::online) {
      for (const auto& peer : s->engine->take_keyless_peers()) {
        log::info(kLog, "asking a contact again to go private, now that the key is ready");
        if (s = existing_otr(account); s == nullptr) break;
        (void)otr_call(account, *s, [&](otr::Engine& e) { return e.restart(peer); });
      }
    }
  } else {
    log::error(kLog, "OTR key generation failed: " + result.error().message);
    emit(OtrKeyState{account, OtrKeyStage::failed, {}, result.error()});
  }
  s = existing_otr(account);
  if (s == nullptr) return;
  auto waiters = std::move(s->key_waiters);
  s->key_waiters.clear();
  for (auto& waiter : waiters) waiter(result);
}

Result<std::optional<std::string>> Engine::otr_fingerprint(const std::string& account) {
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  return (*state)->engine->fingerprint();
}

Result<OtrStatus> Engine::otr_status(const std::string& account, const std::string& peer) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  OtrAccount& s = **state;
  if (auto loaded = impl_->otr_load_policy(account, s, *bare); !loaded)
    return tl::unexpected(loaded.error());
  PrivacyChanged privacy = impl_->privacy_event(account, s, *bare);
  OtrStatus status;
  status.account = account;
  status.peer = *bare;
  status.privacy = privacy.privacy;
  status.resource = privacy.resource;
  status.instance = privacy.instance;
  status.version = privacy.version;
  status.logging = privacy.logging;
  if (status.privacy != Privacy::not_private)
    status.fingerprint = s.engine->peer_fingerprint(*bare);
  status.policy = from_otr(s.engine->policy(*bare));
  status.contact_policy = s.own_policy[*bare];
  status.held = s.engine->queued(*bare);
  return status;
}

Result<void> Engine::start_otr(const std::string& account, const std::string& peer) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto online = impl_->online_provider(account);
  if (!online) return tl::unexpected(online.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  OtrAccount& s = **state;
  if (!s.engine->has_key()) {
    return fail(Errc::not_allowed, s.generating
                                       ? "the account's OTR key is still being generated"
                                       : "the account has no OTR key yet: generate one first");
  }
  (void)impl_->otr_load_policy(account, s, *bare);
  std::string target = *bare;
  if (auto it = s.resource.find(*bare); it != s.resource.end() && !it->second.empty() &&
                                        s.engine->state(*bare) != otr::State::not_private) {
    target += "/" + it->second;
  }
  return impl_->otr_call(account, s, [&](otr::Engine& e) { return e.start(target); });
}

Result<void> Engine::end_otr(const std::string& account, const std::string& peer) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  impl_->otr_call(account, **state, [&](otr::Engine& e) { e.end(*bare); });
  return {};
}

Result<void> Engine::smp_ask(const std::string& account, const std::string& peer,
                             std::optional<std::string> question, std::string secret) {
  auto bare = bare_peer(peer);
  auto state = bare ? impl_->otr_account(account) : tl::unexpected(bare.error());
  if (!state || secret.empty()) {
    secure_wipe(secret);
    if (!state) return tl::unexpected(state.error());
    return fail(Errc::invalid_argument, "the answer (or shared secret) is empty");
  }
  auto asked = impl_->otr_call(account, **state, [&](otr::Engine& e) {
    return question ? e.smp_ask(*bare, *question, secret) : e.smp_secret(*bare, secret);
  });
  secure_wipe(secret);
  return asked;
}

Result<void> Engine::smp_answer(const std::string& account, const std::string& peer,
                                std::string answer) {
  auto bare = bare_peer(peer);
  auto state = bare ? impl_->otr_account(account) : tl::unexpected(bare.error());
  if (!state) {
    secure_wipe(answer);
    return tl::unexpected(state.error());
  }
  auto answered = impl_->otr_call(account, **state,
                                  [&](otr::Engine& e) { return e.smp_respond(*bare, answer); });
  secure_wipe(answer);
  return answered;
}

Result<void> Engine::smp_abort(const std::string& account, const std::string& peer) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  return impl_->otr_call(account, **state, [&](otr::Engine& e) { return e.smp_abort(*bare); });
}

Result<std::vector<OtrFingerprint>> Engine::otr_fingerprints(const std::string& account) {
  if (auto ok = impl_->require_unlocked(); !ok) return tl::unexpected(ok.error());
  std::vector<std::string> addresses;
  if (account.empty()) {
    for (const auto& stored : impl_->accounts) addresses.push_back(stored.settings.address);
  } else {
    addresses.push_back(account);
  }
  std::vector<OtrFingerprint> out;
  for (const std::string& address : addresses) {
    auto state = impl_->otr_account(address);
    if (!state) return tl::unexpected(state.error());
    for (const auto& known : (*state)->engine->known_fingerprints()) {
      out.push_back(
          OtrFingerprint{address, known.peer, known.fingerprint, known.verified, known.active});
    }
  }
  return out;
}

Result<void> Engine::set_fingerprint_verified(const std::string& account, const std::string& peer,
                                              const std::string& fingerprint, bool verified) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  return impl_->otr_call(account, **state, [&](otr::Engine& e) {
    return e.set_verified(*bare, fingerprint, verified);
  });
}

Result<void> Engine::forget_fingerprint(const std::string& account, const std::string& peer,
                                        const std::string& fingerprint) {
  auto bare = bare_peer(peer);
  if (!bare) return tl::unexpected(bare.error());
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  return impl_->otr_call(account, **state,
                         [&](otr::Engine& e) { return e.forget(*bare, fingerprint); });
}

namespace {

// A whole small file; Pidgin's OTR files are kilobytes.
Result<std::string> read_small_file(const std::filesystem::path& path) {
  constexpr std::uintmax_t kLimit = 16 * 1024 * 1024;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return fail(Errc::not_found, "cannot read " + path.string() + ": " + ec.message());
  if (size > kLimit) return fail(Errc::invalid_argument, path.string() + " is too large");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, "cannot open " + path.string());
  // Read into its final buffer: a growing copy would leave pieces of the
  // private key behind in freed memory.
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

Result<OtrImported> Engine::import_pidgin_otr(
    const std::string& account, const std::optional<std::filesystem::path>& keys,
    const std::optional<std::filesystem::path>& fingerprints) {
  if (!keys && !fingerprints)
    return fail(Errc::invalid_argument, "name Pidgin's otr.private_key or otr.fingerprints file");
  auto state = impl_->otr_account(account);
  if (!state) return tl::unexpected(state.error());
  otr::Engine& engine = *(*state)->engine;
  OtrImported imported;
  if (keys) {
    auto text = read_small_file(*keys);
    if (!text) return tl::unexpected(text.error());
    auto found = otr::pidgin_keys_for(*text, account, impl_->otr_protocol(account));
    secure_wipe(*text);
    if (!found) return tl::unexpected(found.error());
    if (found->count > 0) {
      auto loaded = engine.import_keys(found->blob);
      secure_wipe(found->blob);
      if (!loaded) return tl::unexpected(loaded.error());
      auto blob = engine.export_keys();
      if (!blob) return tl::unexpected(blob.error());
      auto saved = impl_->profile->set_otr_data(account, kKeys, *blob);
      secure_wipe(*blob);
      if (!saved) return tl::unexpected(saved.error());
      imported.keys = found->count;
    }
  }
  if (fingerprints) {
    auto text = read_small_file(*fingerprints);
    if (!text) return tl::unexpected(text.error());
    auto found = otr::pidgin_fingerprints_for(*text, account, impl_->otr_protocol(account));
    if (!found) return tl::unexpected(found.error());
    if (found->count > 0) {
      if (auto loaded = engine.import_trust(found->blob); !loaded)
        return tl::unexpected(loaded.error());
      auto blob = engine.export_trust();
      if (!blob) return tl::unexpected(blob.error());
      if (auto saved = impl_->profile->set_otr_data(account, kTrust, *blob); !saved)
        return tl::unexpected(saved.error());
      imported.fingerprints = found->count;
    }
  }
  return imported;
}

}  // namespace sotto::app
