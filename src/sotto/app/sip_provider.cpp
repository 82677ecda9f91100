#include "sotto/app/sip_provider.h"

#include <algorithm>
#include <cctype>
#include <random>

namespace sotto::app {
namespace {

constexpr std::string_view kLog = "sip";

using SystemClock = std::chrono::system_clock;

AccountState from_registration(sip::RegistrationState state) {
  switch (state) {
    case sip::RegistrationState::unregistered:
      return AccountState::offline;
    case sip::RegistrationState::registering:
      return AccountState::connecting;
    case sip::RegistrationState::registered:
      return AccountState::online;
    case sip::RegistrationState::retrying:
      return AccountState::reconnecting;
    case sip::RegistrationState::failed:
      return AccountState::failed;
  }
  return AccountState::offline;
}

uint64_t random_session_id() {
  std::random_device seed;
  // Below 2^62: some peers read o= numbers as signed 64-bit values.
  return ((uint64_t{seed()} << 32) | seed()) & ((uint64_t{1} << 62) - 1);
}

// The first audio stream of a session, if any.
const sdp::Media* audio_of(const sdp::Session& session) {
  for (const sdp::Media& media : session.media) {
    if (media.kind == "audio" && media.port != 0) return &media;
  }
  return nullptr;
}

// Whether the peer's SDP says it does not send to us: it holds the call.
bool holds(const sdp::Session& session) {
  const sdp::Media* audio = audio_of(session);
  if (audio == nullptr) return false;
  const sdp::Direction direction = sdp::effective_direction(session, *audio);
  return direction == sdp::Direction::sendonly || direction == sdp::Direction::inactive;
}

}  // namespace

// --- pure helpers ------------------------------------------------------------

CallEndReason to_call_end_reason(sip::EndReason reason) {
  switch (reason) {
    case sip::EndReason::local_hangup:
      return CallEndReason::hung_up;
    case sip::EndReason::remote_hangup:
      return CallEndReason::remote_hung_up;
    case sip::EndReason::cancelled:
      return CallEndReason::cancelled;
    case sip::EndReason::busy:
      return CallEndReason::busy;
    case sip::EndReason::declined:
      return CallEndReason::declined;
    case sip::EndReason::no_answer:
      return CallEndReason::no_answer;
    case sip::EndReason::not_found:
      return CallEndReason::not_found;
    case sip::EndReason::unacceptable:
      return CallEndReason::unacceptable;
    case sip::EndReason::failed:
      return CallEndReason::failed;
  }
  return CallEndReason::failed;
}

std::string end_text(CallEndReason reason, bool outgoing) {
  switch (reason) {
    case CallEndReason::hung_up:
      return "hung up";
    case CallEndReason::remote_hung_up:
      return "hung up by the other side";
    case CallEndReason::cancelled:
      return outgoing ? "cancelled" : "missed: the caller hung up";
    case CallEndReason::busy:
      return "busy";
    case CallEndReason::declined:
      return "declined";
    case CallEndReason::no_answer:
      return outgoing ? "no answer" : "missed: not answered";
    case CallEndReason::not_found:
      return "not found, or not reachable now";
    case CallEndReason::unacceptable:
      return "no audio format in common";
    case CallEndReason::failed:
      return "the call failed";
  }
  return "the call failed";
}

std::string peer_address(std::string_view uri) {
  std::string_view text = uri;
  if (const auto open = text.find('<'); open != std::string_view::npos) {
    text.remove_prefix(open + 1);
    text = text.substr(0, text.find('>'));
  }
  for (std::string_view scheme : {"sip:", "sips:"}) {
    if (istarts_with(text, scheme)) {
      text.remove_prefix(scheme.size());
      break;
    }
  }
  text = text.substr(0, text.find_first_of(";?>"));
  const auto at = text.find('@');
  if (at == std::string_view::npos) return std::string(text);
  std::string_view host = text.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    host =
        host.substr(0, host.find(']') == std::string_view::npos ? host.size() : host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  std::string out(text.substr(0, at));
  out += '@';
  out += ascii_lower(std::string(host));
  return out;
}

std::string codec_text(const sdp::Codec& codec) {
  std::string text = codec.name + "/" + std::to_string(codec.clock_rate);
  if (codec.channels > 1) text += "/" + std::to_string(codec.channels);
  return text;
}

Result<sip::AccountConfig> sip_config(const AccountSettings& settings, std::string password) {
  sip::AccountConfig config;
  const auto at = settings.address.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == settings.address.size()) {
    secure_wipe(password);
    return fail(Errc::invalid_argument,
                "\"" + settings.address + "\" is not a SIP address; it looks like user@domain");
  }
  auto transport = sip::parse_transport(settings.transport.empty() ? "udp" : settings.transport);
  if (!transport) {
    secure_wipe(password);
    return fail(Errc::invalid_argument,
                "the SIP transport is udp, tcp or tls, not \"" + settings.transport + "\"");
  }
  config.user = settings.address.substr(0, at);
  config.domain = settings.address.substr(at + 1);
  config.auth_user = settings.auth_user;
  config.password = std::move(password);
  config.transport = *transport;
  config.proxy_host = settings.host;
  config.proxy_port = settings.port;
  config.pinned_sha256 = settings.pinned_cert_sha256;
  return config;
}

// --- the provider ------------------------------------------------------------

SipProvider::SipProvider(asio::any_io_executor executor, const AccountSettings& settings,
                         std::string password, Emit emit, CallAudio& audio)
    : account_(settings.address), executor_(executor), emit_(std::move(emit)), audio_(audio) {
  auto config = sip_config(settings, std::move(password));
  if (!config) {
    // validate() let nothing like this through; the agent then fails to
    // register and says why in the log.
    log::error(kLog, config.error().message);
    config = sip::AccountConfig{};
  }
  domain_ = config->domain;
  ua_ = std::make_unique<sip::UserAgent>(executor, std::move(*config),
                                         static_cast<sip::Listener&>(*this));
}

SipProvider::~SipProvider() {
  ua_.reset();  // no callback after this
  calls_.clear();
}

void* SipProvider::capability(std::type_index type) {
  if (type == typeid(InstantMessaging)) return static_cast<InstantMessaging*>(this);
  if (type == typeid(Telephony)) return static_cast<Telephony*>(this);
  if (type == typeid(PacketCapture)) return static_cast<PacketCapture*>(this);
  return nullptr;
}

void SipProvider::set_state(AccountState state, const std::optional<Error>& error) {
  if (state == state_ && !error) return;
  state_ = state;
  emit_(AccountStateChanged{account_, state, error});
}

void SipProvider::connect(Availability, std::string) {
  if (state_ == AccountState::online || state_ == AccountState::connecting ||
      state_ == AccountState::reconnecting) {
    return;
  }
  contacts_announced_ = false;
  set_state(AccountState::connecting, std::nullopt);
  ua_->start();
}

void SipProvider::disconnect() {
  end_all_calls();
  // What was not answered yet will not be: say so (its answer is ignored).
  auto outboxes = std::exchange(outboxes_, {});
  message_uris_.clear();
  for (auto& [uri, outbox] : outboxes) {
    std::vector<std::string> ids;
    if (outbox.in_flight) ids.push_back(*outbox.in_flight);
    for (auto& message : outbox.waiting) {
      secure_wipe(message.body);
      ids.push_back(message.id);
    }
    for (const std::string& id : ids) {
      emit_(MessageStateChanged{
          account_, peer_address(uri), id, DeliveryState::failed,
          Error{Errc::not_connected, "not sent: the account went offline", {}}});
    }
  }
  if (state_ == AccountState::offline) return;
  ua_->stop([this, token = std::weak_ptr<int>(alive_)] {
    if (token.expired()) return;
    set_state(AccountState::offline, std::nullopt);
  });
}

void SipProvider::reconfigure(const AccountSettings& settings, std::string password) {
  auto config = sip_config(settings, std::move(password));
  if (!config) return log::error(kLog, config.error().message);
  ua_->reconfigure(std::move(*config));
}

std::string SipProvider::server_certificate() const { return ua_->server_cert_sha256(); }

void SipProvider::set_packet_observer(Observer observer) {
  if (!observer) return ua_->set_traffic_observer(nullptr);
  ua_->set_traffic_observer([observer = std::move(observer)](bool outgoing, std::string_view text) {
    observer(outgoing ? PacketDirection::send : PacketDirection::receive, text);
  });
}

void SipProvider::on_registration(sip::RegistrationState state, const std::optional<Error>& error) {
  AccountState mapped = from_registration(state);
  // Until stop() has finished, the account is still going offline.
  if (mapped == AccountState::offline && state_ != AccountState::offline) return;
  set_state(mapped, error);
  if (mapped == AccountState::online && !contacts_announced_) {
    contacts_announced_ = true;
    emit_(ContactsLoaded{account_, {}});  // SIP has no contact list: an empty one, at once
  }
}

// --- messages ------------------------------------------------------------------

std::string SipProvider::send_message(const std::string& to, std::string body, std::string id) {
  if (id.empty()) id = random_id(16);
  auto uri = sip::normalize_uri(to, domain_);
  const std::string peer = peer_address(uri ? *uri : to);
  emit_(MessageStateChanged{account_, peer, id, DeliveryState::queued, std::nullopt});
  if (!uri) {
    secure_wipe(body);
    emit_(MessageStateChanged{account_, peer, id, DeliveryState::failed, uri.error()});
    return id;
  }
  Outbox& outbox = outboxes_[*uri];
  outbox.waiting.push_back({id, std::move(body)});
  if (!outbox.in_flight) send_next(*uri);
  return id;
}

void SipProvider::send_next(const std::string& uri) {
  for (;;) {
    auto it = outboxes_.find(uri);
    if (it == outboxes_.end()) return;
    Outbox& outbox = it->second;
    if (outbox.waiting.empty()) {
      outboxes_.erase(it);
      return;
    }
    OutgoingMessage next = std::move(outbox.waiting.front());
    outbox.waiting.pop_front();
    auto sent = ua_->send_message(uri, next.body, next.id);
    secure_wipe(next.body);
    if (sent) {
      outbox.in_flight = *sent;
      message_uris_[*sent] = uri;
      return;
    }
    // Handlers may send more to this peer: the outbox is looked up again.
    emit_(MessageStateChanged{account_, peer_address(uri), next.id, DeliveryState::failed,
                              sent.error()});
  }
}

std::size_t SipProvider::unacknowledged_messages() const {
  std::size_t count = 0;
  for (const auto& [uri, outbox] : outboxes_) {
    count += outbox.waiting.size() + (outbox.in_flight ? 1 : 0);
  }
  return count;
}

void SipProvider::on_message(const std::string& from_uri, const std::string& body,
                             const std::string& content_type) {
  if (!content_type.empty() && !istarts_with(content_type, "text/plain")) {
    log::info(kLog, "ignored a MESSAGE of type " + content_type);
    return;
  }
  MessageReceived received;
  received.account = account_;
  received.peer = peer_address(from_uri);
  received.id = random_id(16);
  received.body = body;
  received.time = SystemClock::now();
  emit_(std::move(received));
}

void SipProvider::on_message_result(const std::string& id, const std::string& /*to_uri*/,
                                    const Result<void>& result) {
  auto known = message_uris_.find(id);
  if (known == message_uris_.end()) return;  // given up on when the account went offline
  const std::string uri = known->second;
  message_uris_.erase(known);
  const std::string peer = peer_address(uri);
  if (result) {
    emit_(MessageStateChanged{account_, peer, id, DeliveryState::sent, std::nullopt});
  } else {
    emit_(MessageStateChanged{account_, peer, id, DeliveryState::failed, result.error()});
  }
  if (auto it = outboxes_.find(uri); it != outboxes_.end() && it->second.in_flight == id) {
    it->second.in_flight.reset();
    send_next(uri);
  }
}

// --- calls -----------------------------------------------------------------------

sdp::LocalMedia SipProvider::local_media(const Call& call) const {
  sdp::LocalMedia local;
  local.address = ua_->local_address();
  if (local.address.empty()) local.address = "0.0.0.0";
  local.audio_port = call.media ? call.media->rtp_port() : 0;
  if (call.media && !call.media->zrtp_hash().empty()) local.zrtp_hash = call.media->zrtp_hash();
  return local;
}

SipProvider::Call* SipProvider::find_call(const std::string& id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : &it->second;
}

void SipProvider::changed(const Call& call) { emit_(CallChanged{call.info}); }

void SipProvider::finish(const std::string& id, CallEndReason reason, std::string text) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  CallInfo info = std::move(it->second.info);
  calls_.erase(it);  // closes the call's ports
  info.state = CallState::ended;
  info.end_reason = reason;
  info.end_text = text.empty() ? end_text(reason, info.outgoing) : std::move(text);
  emit_(CallChanged{std::move(info)});
}

void SipProvider::end_all_calls() {
  std::vector<std::string> ids;
  for (const auto& [id, call] : calls_) ids.push_back(id);
  for (const std::string& id : ids) (void)hang_up(id);
}

std::vector<CallInfo> SipProvider::calls() const {
  std::vector<CallInfo> out;
  for (const auto& [id, call] : calls_) out.push_back(call.info);
  return out;
}

Result<std::string> SipProvider::call(const std::string& to) {
  if (state_ != AccountState::online) {
    return fail(Errc::not_connected, account_ + " is not registered; calls need it online");
  }
  auto uri = sip::normalize_uri(to, domain_);
  if (!uri) return tl::unexpected(uri.error());
  const std::string peer = peer_address(*uri);
  // The stream is named after the call once the agent gave it an id.
  auto pending_id = std::make_shared<std::string>();
  auto media = open_media(pending_id, peer);
  if (!media) return tl::unexpected(media.error());
  Call call;
  call.media = std::move(*media);
  call.session_id = random_session_id();
  call.version = 1;
  sdp::Session offer =
      sdp::make_offer(local_media(call), sdp::Direction::sendrecv, call.session_id, call.version);
  auto handle = ua_->invite(*uri, sdp::to_string(offer));
  if (!handle) return tl::unexpected(handle.error());
  *pending_id = *handle;
  call.offer = std::move(offer);
  call.info.id = *handle;
  call.info.account = account_;
  call.info.peer = peer;
  call.info.outgoing = true;
  call.info.state = CallState::calling;
  call.info.start = SystemClock::now();
  Call& stored = calls_.emplace(*handle, std::move(call)).first->second;
  changed(stored);
  return *handle;
}

void SipProvider::on_incoming_call(const sip::CallHandle& handle, const std::string& from_uri,
                                   const std::string& from_name, const std::string& sdp_offer) {
  if (calls_.size() >= kMaxCalls) {
    // A flood: each call would hold two ports and ring in the front end.
    log::warn(kLog, "too many calls at once: an incoming call was answered busy");
    (void)ua_->reject(handle, 486);
    return;
  }
  Call call;
  call.info.id = handle;
  call.info.account = account_;
  call.info.peer = peer_address(from_uri);
  call.info.peer_name = from_name;
  call.info.outgoing = false;
  call.info.state = CallState::incoming;
  call.info.start = SystemClock::now();
  call.session_id = random_session_id();
  call.version = 1;
  auto media = open_media(std::make_shared<std::string>(handle), call.info.peer);
  if (!media) {
    log::warn(kLog, "an incoming call was refused: " + media.error().message);
    (void)ua_->reject(handle, 500);
    calls_.emplace(handle, std::move(call));
    return finish(handle, CallEndReason::failed, media.error().message);
  }
  call.media = std::move(*media);
  if (!sdp_offer.empty()) {
    Result<std::pair<sdp::Session, sdp::Negotiated>> answer =
        fail(Errc::protocol, "the call's audio description could not be read");
    if (auto offer = sdp::parse(sdp_offer); offer) {
      answer = sdp::make_answer(*offer, local_media(call), sdp::Direction::sendrecv,
                                call.session_id, call.version);
      if (answer) call.info.remote_hold = holds(*offer);
    } else {
      answer = tl::unexpected(offer.error());
    }
    if (!answer) {
      const bool unacceptable = answer.error().code == Errc::not_supported;
      log::info(kLog, "an incoming call was refused: " + answer.error().message);
      (void)ua_->reject(handle, unacceptable ? 488 : 400);
      calls_.emplace(handle, std::move(call));
      return finish(handle, unacceptable ? CallEndReason::unacceptable : CallEndReason::failed,
                    unacceptable ? "" : answer.error().message);
    }
    call.answer_sdp = sdp::to_string(answer->first);
    call.codec = codec_text(answer->second.codec);
    call.negotiated = std::move(answer->second);
  }
  Call& stored = calls_.emplace(handle, std::move(call)).first->second;
  if (auto rang = ua_->ring(handle); !rang)
    log::warn(kLog, "could not ring: " + rang.error().message);
  changed(stored);
}

void SipProvider::on_call_ringing(const sip::CallHandle& handle) {
  Call* call = find_call(handle);
  if (call == nullptr || call->info.state != CallState::calling) return;
  call->info.state = CallState::ringing;
  changed(*call);
}

void SipProvider::on_call_connected(const sip::CallHandle& handle, const std::string& remote_sdp) {
  Call* call = find_call(handle);
  if (call == nullptr) return;
  if (call->offer) {
    // Our offer (in the INVITE, or in our 200 OK to an INVITE without one):
    // `remote_sdp` answers it.
    auto answer = sdp::parse(remote_sdp);
    auto negotiated = answer ? sdp::read_answer(*call->offer, *answer)
                             : Result<sdp::Negotiated>(tl::unexpected(answer.error()));
    call->offer.reset();
    if (!negotiated) {
      log::info(kLog, "the answer to our call was refused: " + negotiated.error().message);
      (void)ua_->hangup(handle);
      const bool unacceptable = negotiated.error().code == Errc::not_supported;
      return finish(handle, unacceptable ? CallEndReason::unacceptable : CallEndReason::failed,
                    unacceptable ? "" : "the other side's audio answer was not understood");
    }
    call->codec = codec_text(negotiated->codec);
    call->info.remote_hold = holds(*answer);
    call->negotiated = std::move(*negotiated);
  }
  call->info.state = CallState::active;
  call->info.codec = call->codec;
  call->info.connected = SystemClock::now();
  start_media(*call);
  changed(*call);
}

Result<std::string> SipProvider::on_call_reoffer(const sip::CallHandle& handle,
                                                 const std::string& sdp_offer) {
  Call* call = find_call(handle);
  if (call == nullptr) return fail(Errc::not_found, "no such call");
  const sdp::Direction wanted =
      call->info.on_hold ? sdp::Direction::sendonly : sdp::Direction::sendrecv;
  if (sdp_offer.empty()) {
    // A re-INVITE without an offer: ours goes in the 200 OK.
    const sdp::Direction direction =
        call->info.on_hold && call->info.remote_hold ? sdp::Direction::inactive : wanted;
    return sdp::to_string(
        sdp::make_offer(local_media(*call), direction, call->session_id, ++call->version));
  }
  auto offer = sdp::parse(sdp_offer);
  if (!offer) return tl::unexpected(offer.error());
  auto answer =
      sdp::make_answer(*offer, local_media(*call), wanted, call->session_id, call->version + 1);
  if (!answer) return tl::unexpected(answer.error());
  ++call->version;
  call->codec = codec_text(answer->second.codec);
  call->negotiated = std::move(answer->second);
  if (call->media_started) start_media(*call);
  const bool remote_hold = holds(*offer);
  const bool codec_changed =
      call->info.state == CallState::active && call->info.codec != call->codec;
  if (call->info.state == CallState::active) call->info.codec = call->codec;
  if (remote_hold != call->info.remote_hold || codec_changed) {
    call->info.remote_hold = remote_hold;
    changed(*call);
  }
  return sdp::to_string(answer->first);
}

void SipProvider::on_reinvite_result(const sip::CallHandle& handle,
                                     const Result<std::string>& sdp_answer) {
  Call* call = find_call(handle);
  if (call == nullptr) return;
  const std::optional<bool> hold = std::exchange(call->hold_pending, std::nullopt);
  const std::optional<sdp::Session> offer = std::exchange(call->offer, std::nullopt);
  if (!sdp_answer) {
    log::info(kLog, "the other side refused to change the call: " + sdp_answer.error().message);
    return changed(*call);  // as it was
  }
  auto answer = sdp::parse(*sdp_answer);
  if (answer && offer) {
    if (auto negotiated = sdp::read_answer(*offer, *answer); negotiated) {
      call->codec = codec_text(negotiated->codec);
      call->info.codec = call->codec;
      call->negotiated = std::move(*negotiated);
      if (call->media_started) start_media(*call);
    } else {
      log::info(kLog, "the answer to our re-INVITE: " + negotiated.error().message);
    }
  }
  if (hold) {
    call->info.on_hold = *hold;
    // Answering our offer to send and receive, the peer says whether it holds.
    if (!*hold && answer) call->info.remote_hold = holds(*answer);
  }
  changed(*call);
}

void SipProvider::on_call_ended(const sip::CallHandle& handle, const sip::CallEnd& end) {
  const CallEndReason reason = to_call_end_reason(end.reason);
  finish(handle, reason, reason == CallEndReason::failed ? end.text : std::string());
}

Result<void> SipProvider::answer(const std::string& id) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.outgoing || call->info.state != CallState::incoming) {
    return fail(Errc::not_allowed, "only an incoming call that rings can be answered");
  }
  if (call->answered) return {};
  std::string body = call->answer_sdp;
  std::optional<sdp::Session> offer;
  if (body.empty()) {
    // The INVITE had no offer: ours goes in the 200 OK, the answer in the ACK.
    offer = sdp::make_offer(local_media(*call), sdp::Direction::sendrecv, call->session_id,
                            call->version);
    body = sdp::to_string(*offer);
  }
  if (auto answered = ua_->answer(id, body); !answered) return answered;
  call->offer = std::move(offer);
  call->answered = true;
  // Media (and ZRTP) start with our 200 OK, not a round trip later.
  if (call->negotiated) start_media(*call);
  return {};
}

Result<void> SipProvider::reject(const std::string& id, bool busy) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.outgoing || call->info.state != CallState::incoming || call->answered) {
    return fail(Errc::not_allowed, "only an incoming call not answered yet can be rejected");
  }
  if (auto rejected = ua_->reject(id, busy ? 486 : 603); !rejected) {
    log::info(kLog, "rejecting a call: " + rejected.error().message);
  }
  finish(id, busy ? CallEndReason::busy : CallEndReason::declined);
  return {};
}

Result<void> SipProvider::hang_up(const std::string& id) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  // Not answered yet: an incoming call is declined, an outgoing one cancelled.
  CallEndReason reason = CallEndReason::hung_up;
  if (!call->info.outgoing && call->info.state == CallState::incoming && !call->answered) {
    reason = CallEndReason::declined;
  } else if (call->info.outgoing && call->info.state != CallState::active) {
    reason = CallEndReason::cancelled;
  }
  // The call ends here whatever the agent says: it is gone there too then.
  if (auto ended = ua_->hangup(id); !ended) {
    log::info(kLog, "hanging up: " + ended.error().message);
  }
  finish(id, reason);
  return {};
}

Result<void> SipProvider::hold(const std::string& id, bool on) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.state != CallState::active) {
    return fail(Errc::not_allowed, "only a connected call can be put on hold or resumed");
  }
  if (call->hold_pending) {
    return fail(Errc::not_allowed, "the call is being changed already; try again in a moment");
  }
  if (call->info.on_hold == on) return {};
  // RFC 3264 §8.4: hold offers sendonly (inactive when the peer holds too).
  const sdp::Direction direction = !on                      ? sdp::Direction::sendrecv
                                   : call->info.remote_hold ? sdp::Direction::inactive
                                                            : sdp::Direction::sendonly;
  sdp::Session offer =
      sdp::make_offer(local_media(*call), direction, call->session_id, call->version + 1);
  if (auto sent = ua_->reinvite(id, sdp::to_string(offer)); !sent) return sent;
  ++call->version;
  call->offer = std::move(offer);
  call->hold_pending = on;
  return {};
}

// --- media -------------------------------------------------------------------

Result<std::unique_ptr<CallAudio::Stream>> SipProvider::open_media(std::shared_ptr<std::string> id,
                                                                   const std::string& peer) {
  std::weak_ptr<int> alive = alive_;
  CallAudio::Handlers handlers;
  handlers.security = [this, alive, id](const media::Security& security) {
    if (alive.lock()) on_security(*id, security);
  };
  handlers.stats = [this, alive, id](const media::CallStats& stats) {
    if (alive.lock()) on_stats(*id, stats);
  };
  handlers.dtmf = [this, alive, id](char digit) {
    if (alive.lock()) emit_(CallDtmf{*id, digit});
  };
  return audio_.open(ua_->local_address(), account_, peer, std::move(handlers));
}

void SipProvider::start_media(Call& call) {
  if (!call.media || !call.negotiated) return;
  call.media->start(stream_params(*call.negotiated, audio_.require_encryption()));
  call.media_started = true;
}

void SipProvider::on_security(const std::string& id, const media::Security& security) {
  Call* call = find_call(id);
  if (call == nullptr) return;
  CallInfo& info = call->info;
  switch (security.state) {
    case media::Encryption::negotiating:
      info.encryption = CallEncryption::negotiating;
      break;
    case media::Encryption::secure:
      info.encryption = CallEncryption::secure;
      break;
    case media::Encryption::none:
      info.encryption = CallEncryption::none;
      break;
    case media::Encryption::failed:
      info.encryption = CallEncryption::failed;
      break;
  }
  info.sas = security.sas;
  info.sas_verified = security.sas_verified;
  // A warning stays until the users compared the SAS again.
  info.cache_mismatch = security.cache_mismatch || (info.cache_mismatch && !info.sas_verified);
  info.cipher = security.cipher;
  info.encryption_text = security.reason;
  if (security.state == media::Encryption::secure) {
    log::info(kLog, "call " + id + " is encrypted (" + security.cipher + ")" +
                        (info.sas_verified ? ", verified" : "") +
                        (info.cache_mismatch ? "; ZRTP cache mismatch" : ""));
  }
  if (security.state == media::Encryption::failed) {
    // "Require encryption": never go on in the clear.
    log::warn(kLog, "call " + id + " could not be encrypted: " + security.reason);
    (void)ua_->hangup(id);
    return finish(id, CallEndReason::failed,
                  "the call could not be encrypted" +
                      (security.reason.empty() ? std::string() : ": " + security.reason));
  }
  changed(*call);
}

void SipProvider::on_stats(const std::string& id, const media::CallStats& stats) {
  Call* call = find_call(id);
  if (call == nullptr || call->info.state != CallState::active) return;
  CallQuality& q = call->info.quality;
  q.loss = stats.loss;
  q.jitter_ms = stats.jitter_ms;
  q.rtt_ms = stats.rtt_ms;
  q.buffer_ms = stats.buffer_ms;
  q.packets_sent = stats.packets_sent;
  q.packets_received = stats.packets_received;
  q.dropped = stats.dropped + stats.auth_failures + stats.zrtp_rejected;
  changed(*call);
}

Result<void> SipProvider::confirm_sas(const std::string& id, bool verified) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.encryption != CallEncryption::secure || !call->media) {
    return fail(Errc::not_allowed, "the call is not encrypted: there is no code to compare");
  }
  call->media->set_sas_verified(verified);
  call->info.sas_verified = verified;
  if (verified) call->info.cache_mismatch = false;
  changed(*call);
  return {};
}

Result<void> SipProvider::mute(const std::string& id, bool on) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.muted == on) return {};
  if (call->media) call->media->set_mute(on);
  call->info.muted = on;
  changed(*call);
  return {};
}

Result<void> SipProvider::send_dtmf(const std::string& id, const std::string& digits) {
  Call* call = find_call(id);
  if (call == nullptr) return fail(Errc::not_found, "there is no call " + id);
  if (call->info.state != CallState::active) {
    return fail(Errc::not_allowed, "keys can be sent in a connected call only");
  }
  if (digits.empty()) return fail(Errc::invalid_argument, "no keys to send");
  for (char c : digits) {
    if (std::string_view("0123456789*#ABCDabcd").find(c) == std::string_view::npos) {
      return fail(Errc::invalid_argument,
                  std::string("\"") + c + "\" is not a phone key (0-9, *, #, A-D)");
    }
  }
  if (!call->negotiated || !call->negotiated->telephone_event_type) {
    return fail(Errc::not_supported, "the other side does not take phone keys in this call");
  }
  if (call->media) call->media->send_dtmf(digits);
  return {};
}

}  // namespace sotto::app
