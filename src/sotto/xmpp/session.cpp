#include "sotto/xmpp/session.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "sotto/xmpp/stanza.h"

namespace sotto::xmpp {
namespace {

constexpr std::string_view kLog = "xmpp.session";

std::optional<uint32_t> parse_h(const Element& element) {
  auto text = element.attr("h");
  if (!text) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
  return value;
}

bool is_stanza(const Element& element) {
  return element.xmlns() == ns::client &&
         (element.name() == "message" || element.name() == "presence" || element.name() == "iq");
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

std::string redact_passwords(std::string_view xml, bool& open) {
  std::string out;
  out.reserve(xml.size());
  std::size_t i = 0;
  // A password element has text only: its text ends at the next '<' (a
  // literal '<' in text is always escaped).
  auto skip_text = [&] {
    const std::size_t end = std::min(xml.find('<', i), xml.size());
    if (end > i) out += kPasswordRedacted;
    open = end == xml.size();
    i = end;
  };
  if (open) skip_text();
  while (i < xml.size()) {
    const std::size_t lt = xml.find('<', i);
    if (lt == std::string_view::npos) {
      out.append(xml.substr(i));
      break;
    }
    std::size_t name_end = lt + 1;
    while (name_end < xml.size() && is_name_char(xml[name_end])) ++name_end;
    std::string_view name = xml.substr(lt + 1, name_end - lt - 1);
    if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
      name.remove_prefix(colon + 1);
    }
    const std::size_t gt = name == "password" ? xml.find('>', name_end) : std::string_view::npos;
    if (gt == std::string_view::npos) {
      out.append(xml.substr(i, name_end - i));
      i = name_end;
      continue;
    }
    out.append(xml.substr(i, gt + 1 - i));
    i = gt + 1;
    if (xml[gt - 1] != '/') skip_text();
  }
  return out;
}

// ---------------------------------------------------------------------------
// StreamManagement

void StreamManagement::on_enabled(std::string resume_id) {
  enabled_ = true;
  resume_id_ = std::move(resume_id);
  inbound_ = 0;
  outbound_acked_ = 0;
}

void StreamManagement::on_sent(SentStanza stanza) {
  if (!enabled_) return;
  unacked_.push_back(std::move(stanza));
}

Result<std::vector<SentStanza>> StreamManagement::on_ack(uint32_t h) {
  // XEP-0198 §4: h wraps at 2^32; the difference is what is newly handled.
  uint32_t newly = h - outbound_acked_;
  if (newly > unacked_.size())
    return fail(Errc::protocol, "the server acknowledged stanzas that were never sent");
  std::vector<SentStanza> acked;
  acked.reserve(newly);
  for (uint32_t i = 0; i < newly; ++i) {
    acked.push_back(std::move(unacked_.front()));
    unacked_.pop_front();
  }
  outbound_acked_ = h;
  return acked;
}

std::vector<SentStanza> StreamManagement::take_for_resend() {
  std::vector<SentStanza> resend(std::make_move_iterator(unacked_.begin()),
                                 std::make_move_iterator(unacked_.end()));
  unacked_.clear();
  // The resent stanzas are counted again from the last h on.
  return resend;
}

void StreamManagement::reset_keeping_messages() {
  for (SentStanza& stanza : unacked_) {
    if (!stanza.message_id.empty()) lost_.push_back(std::move(stanza));
  }
  unacked_.clear();
  enabled_ = false;
  resume_id_.clear();
  bound_ = Jid();
  inbound_ = 0;
  outbound_acked_ = 0;
}

std::vector<SentStanza> StreamManagement::take_lost() {
  std::vector<SentStanza> lost(std::make_move_iterator(lost_.begin()),
                               std::make_move_iterator(lost_.end()));
  lost_.clear();
  return lost;
}

// ---------------------------------------------------------------------------
// Session

std::string_view to_string(Session::Phase phase) {
  switch (phase) {
    case Session::Phase::idle:
      return "idle";
    case Session::Phase::stream_open:
      return "opening the stream";
    case Session::Phase::starttls:
      return "starting TLS";
    case Session::Phase::tls_handshake:
      return "TLS handshake";
    case Session::Phase::sasl:
      return "logging in";
    case Session::Phase::bind:
      return "binding a resource";
    case Session::Phase::resume:
      return "resuming the session";
    case Session::Phase::enable_sm:
      return "enabling stream management";
    case Session::Phase::registering:
      return "creating the account";
    case Session::Phase::online:
      return "online";
    case Session::Phase::closed:
      return "closed";
  }
  return "?";
}

Session::Session(SessionConfig config, StreamManagement& sm, Io io, Events events)
    : config_(std::move(config)),
      sm_(sm),
      io_(std::move(io)),
      events_(std::move(events)),
      parser_(StreamParser::Callbacks{
          [this](const Element& header) { on_stream_open(header); },
          [this](Element stanza) { on_stanza(std::move(stanza)); },
          [this] { fail(Errc::network, "the server closed the stream"); },
      }) {}

Session::~Session() { secure_wipe(config_.password); }

void Session::start() {
  phase_ = Phase::stream_open;
  open_stream();
}

void Session::open_stream() {
  write_raw("<?xml version='1.0'?><stream:stream to='" + xml_escape(config_.jid.domain()) +
            "' version='1.0' xml:lang='en' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams'>");
}

void Session::on_data(std::string_view bytes) {
  if (traffic_) observe(Direction::receive, bytes);
  if (phase_ == Phase::closed) return;
  if (auto fed = parser_.feed(bytes); !fed) {
    fail(Errc::protocol, "the server sent invalid XML: " + fed.error().message);
  }
}

void Session::on_tls_ready() {
  if (phase_ != Phase::tls_handshake) return;
  phase_ = Phase::stream_open;
  parser_.reset();
  open_stream();
}

void Session::on_stream_open(const Element& header) {
  if (header.attr_or("version") != "1.0") {
    fail(Errc::protocol, "the server does not speak XMPP 1.0");
  }
}

void Session::on_stanza(Element stanza) {
  if (phase_ == Phase::closed) return;
  if (stanza.is("error", ns::stream)) {
    const Element* condition = stanza.first_child();
    std::string name = condition ? condition->name() : "undefined-condition";
    std::string text = stanza.child_text("text", ns::streams);
    if (name == "conflict") {
      fail(Errc::conflict, "this account logged in elsewhere with the same resource");
    } else if (name == "policy-violation" || name == "not-authorized") {
      fail(Errc::not_allowed,
           "the server closed the stream: " + name + (text.empty() ? "" : " (" + text + ")"));
    } else {
      fail(Errc::protocol,
           "the server closed the stream: " + name + (text.empty() ? "" : " (" + text + ")"));
    }
    return;
  }
  switch (phase_) {
    case Phase::stream_open:
      if (stanza.is("features", ns::stream)) {
        on_features(stanza);
      } else {
        fail(Errc::protocol, "the server sent " + stanza.name() + " before its features");
      }
      return;
    case Phase::starttls:
      if (stanza.is("proceed", ns::tls)) {
        phase_ = Phase::tls_handshake;
        parser_.reset();
        io_.start_tls();
      } else {
        fail(Errc::tls, "the server refused to start TLS");
      }
      return;
    case Phase::sasl:
      on_sasl(stanza);
      return;
    case Phase::bind:
      if (stanza.is("iq", ns::client) && stanza.attr_or("id") == pending_iq_) {
        if (stanza.attr_or("type") != "result") {
          fail(Errc::protocol,
               "the server refused to bind a resource: " + stanza_error(stanza).message);
          return;
        }
        const Element* bind = stanza.child("bind", ns::bind);
        Result<Jid> jid = sotto::fail(Errc::protocol, "no JID bound");
        if (bind != nullptr) jid = Jid::parse(bind->child_text("jid", ns::bind));
        if (!jid || jid->bare() != config_.jid.bare()) {
          fail(Errc::protocol, "the server bound an address that is not this account's");
          return;
        }
        bound_ = *jid;
        if (sm_offered_) {
          phase_ = Phase::enable_sm;
          write_raw("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
        } else {
          go_online(false);
        }
      }
      return;
    case Phase::resume:
    case Phase::enable_sm:
    case Phase::online:
      if (stanza.xmlns() == ns::sm) {
        on_sm_nonza(stanza);
      } else if (phase_ == Phase::online && is_stanza(stanza)) {
        handle_online_stanza(std::move(stanza));
      } else {
        log::info(kLog, "dropped an unexpected element: " + stanza.name());
      }
      return;
    case Phase::registering:
      if (stanza.is("iq", ns::client) && stanza.attr_or("id") == pending_iq_) {
        on_register_result(stanza);
      }
      return;
    case Phase::idle:
    case Phase::tls_handshake:
    case Phase::closed:
      return;
  }
}

void Session::on_features(const Element& features) {
  const bool tls = io_.tls_active && io_.tls_active();
  if (!tls) {
    if (features.child("starttls", ns::tls) == nullptr) {
      fail(Errc::tls, "the server does not offer encryption; Sotto will not log in without it");
      return;
    }
    phase_ = Phase::starttls;
    write_raw("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    return;
  }
  if (config_.mode == SessionMode::register_account) {
    register_offered_ = features.child("register", ns::register_feature) != nullptr;
    send_registration();
    return;
  }
  if (!authenticated_) {
    const Element* mechanisms = features.child("mechanisms", ns::sasl);
    if (mechanisms == nullptr) {
      fail(Errc::auth, "the server offers no way to log in");
      return;
    }
    start_sasl(*mechanisms);
    return;
  }
  sm_offered_ = features.child("sm", ns::sm) != nullptr;
  if (sm_offered_ && sm_.resumable()) {
    phase_ = Phase::resume;
    write_raw("<resume xmlns='urn:xmpp:sm:3' h='" + std::to_string(sm_.inbound()) + "' previd='" +
              xml_escape(sm_.resume_id()) + "'/>");
    return;
  }
  sm_.reset_keeping_messages();
  send_bind();
}

void Session::start_sasl(const Element& mechanisms) {
  std::vector<std::string> offered;
  for (const Element* mechanism : mechanisms.children("mechanism", ns::sasl)) {
    offered.push_back(mechanism->text());
  }
  SaslOptions options;
  options.authcid = config_.jid.local();
  options.password = config_.password;
  options.tls_active = true;
  if (io_.cb_type) {
    options.cb_type = io_.cb_type();
    if (options.cb_type != ChannelBindingType::none) options.cb_data = io_.cb_data();
    if (options.cb_data.empty()) options.cb_type = ChannelBindingType::none;
  }
  auto client = SaslClient::start(offered, std::move(options));
  if (!client) {
    fail(client.error().code, client.error().message);
    return;
  }
  sasl_ = std::move(*client);
  auto initial = sasl_->initial_response();
  if (!initial) {
    fail(initial.error().code, initial.error().message);
    return;
  }
  log::debug(kLog, "SASL mechanism " + sasl_->mechanism());
  phase_ = Phase::sasl;
  write_raw("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" +
            xml_escape(sasl_->mechanism()) + "'>" + *initial + "</auth>");
}

void Session::on_sasl(const Element& element) {
  if (element.xmlns() != ns::sasl) {
    fail(Errc::protocol, "the server sent " + element.name() + " while logging in");
    return;
  }
  if (element.name() == "challenge") {
    auto response = sasl_->step(element.text());
    if (!response) {
      fail(response.error().code, response.error().message);
      return;
    }
    write_raw("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + *response + "</response>");
  } else if (element.name() == "success") {
    auto finished = sasl_->finish(element.text());
    if (!finished) {
      fail(finished.error().code, finished.error().message);
      return;
    }
    sasl_.reset();
    authenticated_ = true;
    phase_ = Phase::stream_open;
    parser_.reset();
    open_stream();
  } else if (element.name() == "failure") {
    const Element* condition = element.first_child();
    std::string name = condition ? condition->name() : "";
    if (name == "not-authorized" || name == "credentials-expired" || name == "invalid-authzid") {
      fail(Errc::auth, "the server refused the login: wrong address or password");
    } else if (name == "account-disabled") {
      fail(Errc::auth, "the server says this account is disabled");
    } else {
      fail(Errc::auth,
           "the server refused the login (" + (name.empty() ? "no reason" : name) + ")");
    }
  } else {
    fail(Errc::protocol, "unexpected SASL element " + element.name());
  }
}

void Session::send_bind() {
  phase_ = Phase::bind;
  pending_iq_ = "bind-" + random_id(8);
  Element iq("iq", std::string(ns::client));
  iq.set_attr("type", "set");
  iq.set_attr("id", pending_iq_);
  Element& bind = iq.add_child("bind", std::string(ns::bind));
  bind.add_child("resource", std::string(ns::bind)).add_text(config_.resource);
  write_raw(iq.to_string(ns::client));
}

void Session::on_sm_nonza(const Element& element) {
  const std::string& name = element.name();
  if (name == "r") {
    write_raw("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(sm_.inbound()) + "'/>");
    return;
  }
  if (name == "a") {
    auto h = parse_h(element);
    if (!h) {
      fail(Errc::protocol, "the server sent a broken acknowledgement");
      return;
    }
    auto acked = sm_.on_ack(*h);
    if (!acked) {
      fail(acked.error().code, acked.error().message);
      return;
    }
    if (!acked->empty() && events_.on_acked) events_.on_acked(std::move(*acked));
    return;
  }
  if (phase_ == Phase::enable_sm) {
    if (name == "enabled") {
      auto resume = element.attr_or("resume");
      sm_.on_enabled(resume == "true" || resume == "1" ? element.attr_or("id") : std::string());
      sm_.set_bound(bound_);
    } else {
      log::info(kLog, "the server refused stream management");
    }
    go_online(false);
    return;
  }
  if (phase_ == Phase::resume) {
    if (name == "resumed") {
      auto h = parse_h(element);
      Result<std::vector<SentStanza>> acked = sotto::fail(Errc::protocol, "resumed without h");
      if (h) acked = sm_.on_ack(*h);
      if (!acked) {
        fail(acked.error().code, acked.error().message);
        return;
      }
      if (!acked->empty() && events_.on_acked) events_.on_acked(std::move(*acked));
      phase_ = Phase::online;
      bound_ = sm_.bound();
      for (SentStanza& stanza : sm_.take_for_resend()) {
        // Questions (iqs) were reported failed when the link dropped: asking
        // again would act on an answer nobody waits for any more.
        if (stanza.xml.starts_with("<iq")) continue;
        write_raw(stanza.xml);
        sm_.on_sent(std::move(stanza));
      }
      if (sm_.unacked() > 0) request_ack();
      if (events_.on_online) events_.on_online(bound_, true, {});
      return;
    }
    if (name == "failed") {
      // XEP-0198 §5: a failed resumption may still tell what was handled.
      if (auto h = parse_h(element)) {
        auto acked = sm_.on_ack(*h);
        if (acked && !acked->empty() && events_.on_acked) events_.on_acked(std::move(*acked));
      }
      log::info(kLog, "the server could not resume the session; starting a new one");
      sm_.reset_keeping_messages();
      send_bind();
      return;
    }
  }
  log::info(kLog, "dropped an unexpected stream management element: " + name);
}

void Session::go_online(bool resumed) {
  phase_ = Phase::online;
  // The lost list stays in StreamManagement until this moment, so a drop
  // during bind or <enable/> keeps it for the next attempt.
  if (events_.on_online)
    events_.on_online(bound_, resumed, resumed ? std::vector<SentStanza>() : sm_.take_lost());
}

void Session::handle_online_stanza(Element stanza) {
  if (sm_.enabled()) sm_.on_received();
  if (events_.on_stanza) events_.on_stanza(std::move(stanza));
}

void Session::send(const Element& stanza, std::string message_id) {
  if (phase_ != Phase::online) return;
  std::string xml = stanza.to_string(ns::client);
  write_raw(xml);
  if (sm_.enabled()) {
    auto to = Jid::parse(stanza.attr_or("to"));
    sm_.on_sent(SentStanza{std::move(xml), std::move(message_id), to ? *to : Jid()});
  }
}

void Session::request_ack() {
  if (phase_ == Phase::online && sm_.enabled()) write_raw("<r xmlns='urn:xmpp:sm:3'/>");
}

void Session::close() {
  if (phase_ == Phase::closed) return;
  phase_ = Phase::closed;
  // Closing ends the server's session: nothing can be resumed afterwards,
  // but what it did not acknowledge is sent again by the next session.
  sm_.reset_keeping_messages();
  write_raw("</stream:stream>");
}

void Session::send_registration() {
  phase_ = Phase::registering;
  pending_iq_ = "reg1-" + random_id(8);
  write_raw("<iq type='get' id='" + pending_iq_ + "' to='" + xml_escape(config_.jid.domain()) +
            "'><query xmlns='jabber:iq:register'/></iq>");
}

void Session::on_register_result(const Element& iq) {
  const bool first_step = pending_iq_.starts_with("reg1-");
  if (iq.attr_or("type") != "result") {
    Error error = stanza_error(iq);
    std::string condition = error.detail;
    if (condition == "conflict") {
      fail(Errc::conflict, "could not create the account: the name is taken");
    } else if (condition == "not-acceptable" || condition == "bad-request") {
      fail(Errc::invalid_argument,
           "could not create the account: the server did not accept that name or password" +
               (error.message.empty() ? std::string() : " (" + error.message + ")"));
    } else if (condition == "service-unavailable" || condition == "feature-not-implemented" ||
               (!register_offered_ && first_step)) {
      fail(Errc::not_supported,
           "could not create the account: this server does not allow creating accounts from an "
           "app; create it on the server's web site");
    } else {
      fail(Errc::not_allowed, "could not create the account: " + error.message);
    }
    return;
  }
  if (first_step) {
    const Element* query = iq.child("query", ns::register_);
    if (query == nullptr || query->child("username") == nullptr ||
        query->child("password") == nullptr) {
      fail(Errc::not_supported,
           "could not create the account: the server asks for details Sotto cannot provide; "
           "create it on the server's web site");
      return;
    }
    pending_iq_ = "reg2-" + random_id(8);
    Element set("iq", std::string(ns::client));
    set.set_attr("type", "set");
    set.set_attr("id", pending_iq_);
    set.set_attr("to", config_.jid.domain());
    Element& q = set.add_child("query", std::string(ns::register_));
    q.add_child("username", std::string(ns::register_)).add_text(config_.jid.local());
    q.add_child("password", std::string(ns::register_)).add_text(config_.password);
    write_raw(set.to_string(ns::client));
    return;
  }
  phase_ = Phase::closed;
  write_raw("</stream:stream>");
  if (events_.on_registered) events_.on_registered();
}

void Session::write_raw(std::string xml) {
  if (traffic_) observe(Direction::send, xml);
  if (io_.write) io_.write(std::move(xml));
}

void Session::observe(Direction direction, std::string_view text) {
  // RFC 6120 §6.4: every SASL element read or written while authenticating
  // carries the password or a proof of it. The server's answer to our last
  // write is read while the phase is still sasl.
  if (phase_ == Phase::sasl) {
    traffic_(direction, kAuthenticationNotLogged);
    return;
  }
  bool& open = direction == Direction::send ? password_open_sent_ : password_open_received_;
  if (!open && text.find("password") == std::string_view::npos) {
    traffic_(direction, text);
    return;
  }
  traffic_(direction, redact_passwords(text, open));
}

void Session::fail(Errc code, std::string message) {
  if (phase_ == Phase::closed) return;
  log::info(kLog, "stream failed in phase '" + std::string(to_string(phase_)) + "': " + message);
  phase_ = Phase::closed;
  sasl_.reset();
  if (events_.on_error) events_.on_error(Error{code, std::move(message), {}});
}

}  // namespace sotto::xmpp
