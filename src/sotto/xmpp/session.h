// Private to sotto/xmpp: the XMPP stream negotiation and XEP-0198 engine.
// No I/O: bytes come in through on_data(), go out through Io::write; TLS is
// requested through Io::start_tls and reported back by on_tls_ready().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sotto/base/base.h"
#include "sotto/xmpp/sasl.h"
#include "sotto/xmpp/xml.h"
#include "sotto/xmpp/xmpp.h"

namespace sotto::xmpp {

// A stanza written after <enable/>, kept until the server's <a h=.../> covers it.
struct SentStanza {
  std::string xml;
  std::string message_id;  // non-empty for chat messages of the outbox
  Jid to;
};

// Stream management state that outlives one connection (XEP-0198 §5).
class StreamManagement {
 public:
  bool enabled() const { return enabled_; }
  bool resumable() const { return !resume_id_.empty(); }
  const std::string& resume_id() const { return resume_id_; }
  uint32_t inbound() const { return inbound_; }
  std::size_t unacked() const { return unacked_.size(); }
  const std::deque<SentStanza>& unacked_stanzas() const { return unacked_; }

  void on_enabled(std::string resume_id);
  void on_sent(SentStanza stanza);
  void on_received() { ++inbound_; }
  // The server says it handled h stanzas in all. Returns the newly acked
  // ones; an h beyond what we sent is a protocol error.
  [[nodiscard]] Result<std::vector<SentStanza>> on_ack(uint32_t h);
  // After <resumed/> and its ack: the stanzas to send again (they leave the
  // queue; sending re-adds them).
  std::vector<SentStanza> take_for_resend();
  // The session cannot be resumed (failed, or closed by us): the state starts
  // over, but unacked chat messages move to the lost list, which survives
  // further drops until the next session takes it. Other stanzas (iqs,
  // presence) are dropped: their callers were already told they failed.
  void reset_keeping_messages();
  std::vector<SentStanza> take_lost();
  std::size_t lost() const { return lost_.size(); }

  // The full JID of the resumable session (a resumption binds it again).
  const Jid& bound() const { return bound_; }
  void set_bound(Jid jid) { bound_ = std::move(jid); }

 private:
  std::deque<SentStanza> lost_;
  Jid bound_;
  bool enabled_ = false;
  std::string resume_id_;
  uint32_t inbound_ = 0;
  uint32_t outbound_acked_ = 0;  // h of the last ack
  std::deque<SentStanza> unacked_;
};

enum class SessionMode { login, register_account };

struct SessionConfig {
  SessionMode mode = SessionMode::login;
  Jid jid;  // bare
  std::string password;
  std::string resource;
  bool tls_from_start = false;  // direct TLS
};

class Session {
 public:
  enum class Phase {
    idle,
    stream_open,    // waiting for <stream:features>
    starttls,       // sent <starttls/>
    tls_handshake,  // owner runs the handshake
    sasl,           // authenticating
    bind,           // binding a resource
    resume,         // sent <resume/>
    enable_sm,      // sent <enable/>
    registering,    // XEP-0077 exchange
    online,
    closed,
  };

  struct Io {
    std::function<void(std::string)> write;
    std::function<void()> start_tls;
    std::function<bool()> tls_active;
    std::function<ChannelBindingType()> cb_type;
    std::function<std::string()> cb_data;
  };

  struct Events {
    // Bound (new session, or resumed). The stream is ready; SM is on if the
    // server offers it. For a new session, `lost` holds what the previous
    // session did not get acknowledged.
    std::function<void(const Jid& bound, bool resumed, std::vector<SentStanza> lost)> on_online;
    std::function<void(Element)> on_stanza;
    std::function<void(std::vector<SentStanza>)> on_acked;
    std::function<void(Error)> on_error;  // the stream is dead; close the connection
    std::function<void()> on_registered;  // register mode: the account exists
  };

  Session(SessionConfig config, StreamManagement& sm, Io io, Events events);
  ~Session();

  // Writes the opening stream header (after TCP, or after direct TLS).
  void start();
  void on_data(std::string_view bytes);
  void on_tls_ready();

  // Sends a stanza (message / presence / iq) in jabber:client. Counted for
  // SM once enabled. message_id marks chat messages for the outbox.
  void send(const Element& stanza, std::string message_id = {});
  // Asks the server for an ack now (<r/>).
  void request_ack();
  void close();

  // Sees every write and every read from now on (xmpp.h: TrafficObserver).
  void set_traffic_observer(TrafficObserver observer) { traffic_ = std::move(observer); }

  Phase phase() const { return phase_; }
  bool online() const { return phase_ == Phase::online; }
  const Jid& bound_jid() const { return bound_; }
  bool sm_enabled() const { return sm_.enabled(); }

 private:
  void open_stream();
  void on_stream_open(const Element& header);
  void on_stanza(Element stanza);
  void on_features(const Element& features);
  void start_sasl(const Element& mechanisms);
  void on_sasl(const Element& element);
  void send_bind();
  void on_sm_nonza(const Element& element);
  void go_online(bool resumed);
  void send_registration();
  void on_register_result(const Element& iq);
  void handle_online_stanza(Element stanza);
  void write_raw(std::string xml);
  void observe(Direction direction, std::string_view text);
  void fail(Errc code, std::string message);

  SessionConfig config_;
  StreamManagement& sm_;
  Io io_;
  Events events_;
  StreamParser parser_;
  Phase phase_ = Phase::idle;
  bool authenticated_ = false;
  bool sm_offered_ = false;
  bool register_offered_ = false;
  std::unique_ptr<SaslClient> sasl_;
  Jid bound_;
  std::string pending_iq_;
  bool acks_since_request_ = false;
  TrafficObserver traffic_;
  // A password element's text went on past the end of the last write / read.
  bool password_open_sent_ = false;
  bool password_open_received_ = false;
};

std::string_view to_string(Session::Phase phase);

// The text with the text of every password element (any prefix, any
// namespace) replaced by kPasswordRedacted. `open` carries a password
// element whose text runs past the end of one piece into the next: true on
// entry redacts the start of `xml` up to the first tag.
std::string redact_passwords(std::string_view xml, bool& open);
inline std::string redact_passwords(std::string_view xml) {
  bool open = false;
  return redact_passwords(xml, open);
}

}  // namespace sotto::xmpp
