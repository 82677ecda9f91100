// The SIP user agent: transports, transactions (RFC 3261 §17, our own: a
// client transaction retransmits on UDP and times out; a server transaction
// remembers its last response for retransmitted requests), registration,
// INVITE dialogs and MESSAGE.
#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <asio.hpp>

#include "sotto/sip/digest.h"
#include "sotto/sip/message.h"
#include "sotto/sip/resolver.h"
#include "sotto/sip/sip.h"
#include "sotto/sip/stream.h"
#include "sotto/sip/wire.h"

namespace sotto::sip {
namespace {

constexpr std::string_view kLog = "sip";
constexpr std::string_view kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE";
constexpr std::size_t kMaxRinging = 8;
constexpr std::size_t kMaxServerTxs = 4096;
// TCP connections peers opened to us; more are closed at once (descriptors
// are shared with the media ports and the profile database).
constexpr std::size_t kMaxAcceptedStreams = 64;
constexpr auto kPongTimeout = std::chrono::seconds(10);
constexpr auto kMaxBackoff = std::chrono::seconds(300);
// How long our INVITE may ring before we give up (RFC 3261 Timer C is > 3 min).
constexpr auto kRingingLimit = std::chrono::minutes(3);

using udp = asio::ip::udp;
using tcp = asio::ip::tcp;
using TimerPtr = std::shared_ptr<asio::steady_timer>;

std::string transport_token(Transport t) {
  switch (t) {
    case Transport::udp:
      return "UDP";
    case Transport::tcp:
      return "TCP";
    case Transport::tls:
      return "TLS";
  }
  return "UDP";
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\r' || c == '\n') continue;
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string name_addr(std::string_view display, std::string_view uri, std::string_view tag = {}) {
  std::string out;
  if (!display.empty()) out = quote(display) + " ";
  out += "<" + std::string(uri) + ">";
  if (!tag.empty()) out += ";tag=" + std::string(tag);
  return out;
}

bool is_ip_literal(std::string_view host) {
  std::error_code ec;
  std::string h(host);
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  asio::ip::make_address(h, ec);
  return !ec;
}

asio::ip::address make_address(std::string_view host) {
  std::error_code ec;
  std::string h(host);
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return asio::ip::make_address(h, ec);
}

std::string host_text(const asio::ip::address& address) {
  return address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
}

EndReason reason_for(int status) {
  switch (status) {
    case 486:
    case 600:
      return EndReason::busy;
    case 603:
      return EndReason::declined;
    case 408:
    case 480:
      return EndReason::no_answer;
    case 404:
    case 484:
    case 604:
      return EndReason::not_found;
    case 488:
    case 606:
      return EndReason::unacceptable;
    case 487:
      return EndReason::cancelled;
    default:
      return EndReason::failed;
  }
}

std::string text_for(EndReason reason, int status) {
  switch (reason) {
    case EndReason::local_hangup:
      return "hung up";
    case EndReason::remote_hangup:
      return "the other side hung up";
    case EndReason::cancelled:
      return "the caller gave up";
    case EndReason::busy:
      return "busy";
    case EndReason::declined:
      return "declined";
    case EndReason::no_answer:
      return "no answer";
    case EndReason::not_found:
      return "no such user";
    case EndReason::unacceptable:
      return "no media in common";
    case EndReason::failed:
      break;
  }
  if (status == 0) return "the call failed";
  return "the call failed (" + std::to_string(status) + " " + std::string(reason_phrase(status)) +
         ")";
}

// A best-effort error answer when wire::error_response cannot build one
// (no Call-ID, say): the Via, From, To, Call-ID and CSeq lines that are
// there, so that the sender learns why. "" without a Via.
std::string fallback_response(std::string_view bytes, int status, std::string_view reason) {
  std::string vias, others;
  std::size_t pos = 0;
  int lines = 0;
  bool first = true;
  while (pos < bytes.size() && lines++ < 200) {
    auto end = bytes.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    std::string_view line = bytes.substr(pos, end - pos);
    pos = end + 2;
    if (first) {
      first = false;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || line.size() > 1024) continue;
    std::string name(line.substr(0, colon));
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string text(line);
    for (auto& c : text)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') c = ' ';
    if (name == "via" || name == "v")
      vias += text + "\r\n";
    else if (name == "from" || name == "f" || name == "call-id" || name == "i" || name == "cseq")
      others += text + "\r\n";
    else if (name == "to" || name == "t")
      others +=
          text + (text.find(";tag=") == std::string::npos ? ";tag=" + random_token() : "") + "\r\n";
  }
  if (vias.empty()) return {};
  std::string phrase;
  for (char c : reason)
    if (static_cast<unsigned char>(c) >= 0x20 && phrase.size() < 100) phrase.push_back(c);
  if (phrase.empty()) phrase = std::string(reason_phrase(status));
  return "SIP/2.0 " + std::to_string(status) + " " + phrase + "\r\n" + vias + others +
         "Content-Length: 0\r\n\r\n";
}

struct Dest {
  Transport transport = Transport::udp;
  asio::ip::address address;
  uint16_t port = 0;
  std::string host;  // the name to check a TLS certificate against
  friend bool operator==(const Dest& a, const Dest& b) {
    return a.transport == b.transport && a.address == b.address && a.port == b.port;
  }
};

struct Source {
  Transport transport = Transport::udp;
  asio::ip::address address;
  uint16_t port = 0;
  std::weak_ptr<Stream> stream;
};

struct RequestSpec {
  std::string method;
  std::string request_uri;
  std::string from;  // whole value, tag included
  std::string to;    // whole value, tag included when in a dialog
  std::string call_id;
  uint32_t cseq = 1;
  std::vector<std::string> routes;   // Route values
  std::string contact;               // value; empty: none
  std::vector<std::string> headers;  // extra "Name: value" lines
  std::string content_type;
  std::string body;
};

struct ClientTx {
  std::string key;
  bool invite = false;
  std::string bytes;
  Dest dest;
  Millis interval{500};
  bool provisional = false;
  bool rings = false;      // a call's initial INVITE: the call's ringing limit replaces Timer B
  bool completed = false;  // INVITE: a non-2xx final arrived (re-ACK retransmissions)
  std::string ack_bytes;
  TimerPtr retransmit;
  TimerPtr timeout;
  std::function<void(const Message* response)> on_result;  // nullptr: timeout
};

struct ServerTx {
  std::string key;
  bool invite = false;
  Source source;
  std::string last_response;
  int last_status = 0;
  TimerPtr retransmit;  // INVITE non-2xx finals over UDP, until the ACK
  Millis interval{500};
  TimePoint expires_at = TimePoint::max();
};

enum class CallState { calling, early, incoming, ringing, answered, confirmed, ended };

struct Call {
  CallHandle handle;
  bool outgoing = false;
  CallState state = CallState::calling;
  std::string call_id;
  std::string local_tag;
  std::string remote_tag;
  std::string local_display;
  std::string local_uri;
  std::string remote_display;
  std::string remote_uri;
  uint32_t local_cseq = 1;
  uint32_t remote_cseq = 0;
  std::string remote_target;
  std::vector<std::string> route_set;  // Route values, in the order to send
  Dest dest;                           // where in-dialog requests go
  bool ended_reported = false;
  // Outgoing INVITE.
  RequestSpec invite;
  std::string invite_branch;
  Dest invite_dest;
  bool invite_pending = false;  // our initial INVITE awaits its final answer
  bool cancel_wanted = false;
  bool cancel_sent = false;
  bool ringing_reported = false;
  int auth_tries = 0;
  std::string ack_bytes;  // the ACK for the 2xx, for retransmitted 2xx
  Dest ack_dest;
  uint32_t ack_cseq = 0;
  // Incoming INVITE.
  Message request;  // the INVITE being answered (initial or re-INVITE)
  std::string server_key;
  bool offerless = false;
  // Our 2xx, retransmitted until the ACK (RFC 3261 §13.3.1.4).
  std::string ok_bytes;
  uint32_t ok_cseq = 0;
  Source ok_source;
  Millis ok_interval{500};
  TimePoint ok_deadline;
  bool ok_is_reinvite = false;
  TimerPtr ok_timer;
  TimerPtr linger_timer;  // keeps an ended call for retransmitted 2xx
  TimerPtr ring_timer;    // our INVITE rings there: give up after kRingingLimit
  // Re-INVITE from us.
  bool reinvite_pending = false;    // asked for, until its result
  bool reinvite_in_flight = false;  // our re-INVITE transaction is under way
  std::string reinvite_offer;
  TimerPtr glare_timer;
  std::string local_sdp;
};

struct Credentials {
  digest::Challenge challenge;
  uint32_t nc = 0;
};

}  // namespace

std::string_view to_string(Transport transport) {
  switch (transport) {
    case Transport::udp:
      return "udp";
    case Transport::tcp:
      return "tcp";
    case Transport::tls:
      return "tls";
  }
  return "udp";
}

std::optional<Transport> parse_transport(std::string_view text) {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "udp") return Transport::udp;
  if (lower == "tcp") return Transport::tcp;
  if (lower == "tls") return Transport::tls;
  return std::nullopt;
}

std::string_view to_string(RegistrationState state) {
  switch (state) {
    case RegistrationState::unregistered:
      return "unregistered";
    case RegistrationState::registering:
      return "registering";
    case RegistrationState::registered:
      return "registered";
    case RegistrationState::retrying:
      return "retrying";
    case RegistrationState::failed:
      return "failed";
  }
  return "unregistered";
}

std::string_view to_string(EndReason reason) {
  switch (reason) {
    case EndReason::local_hangup:
      return "local_hangup";
    case EndReason::remote_hangup:
      return "remote_hangup";
    case EndReason::cancelled:
      return "cancelled";
    case EndReason::busy:
      return "busy";
    case EndReason::declined:
      return "declined";
    case EndReason::no_answer:
      return "no_answer";
    case EndReason::not_found:
      return "not_found";
    case EndReason::unacceptable:
      return "unacceptable";
    case EndReason::failed:
      return "failed";
  }
  return "failed";
}

Result<std::string> normalize_uri(std::string_view text, std::string_view domain) {
  std::string s(text);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
  if (s.empty() || s.size() > 1024) return fail(Errc::invalid_argument, "an empty SIP address");
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == '"')
      return fail(Errc::invalid_argument, "\"" + std::string(text) + "\" is not a SIP address");
  std::string lower = s.substr(0, 5);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string uri;
  if (lower.rfind("sip:", 0) == 0)
    uri = "sip:" + s.substr(4);
  else if (lower.rfind("sips:", 0) == 0)
    uri = "sips:" + s.substr(5);
  else if (s.find(':') != std::string::npos && s.find('@') == std::string::npos)
    return fail(Errc::invalid_argument, "\"" + std::string(text) + "\" is not a SIP address");
  else if (s.find('@') != std::string::npos)
    uri = "sip:" + s;
  else if (!domain.empty())
    uri = "sip:" + s + "@" + std::string(domain);
  else
    return fail(Errc::invalid_argument, "\"" + std::string(text) + "\" has no domain");
  auto parts = parse_uri(uri);
  if (!parts || parts->host.empty() || (parts->scheme != "sip" && parts->scheme != "sips"))
    return fail(Errc::invalid_argument, "\"" + std::string(text) + "\" is not a SIP address");
  return uri;
}

// ---------------------------------------------------------------------------

struct UserAgent::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor, AccountConfig config, Listener& listener)
      : executor_(executor),
        config_(std::move(config)),
        listener_(&listener),
        udp_(executor),
        acceptor_(executor),
        rng_(std::random_device{}()) {
    wire::init();
  }

  // --- plumbing ------------------------------------------------------------

  asio::any_io_executor executor_;
  AccountConfig config_;
  Listener* listener_;
  bool dead_ = false;
  bool running_ = false;
  bool stopping_ = false;
  TrafficObserver observer_;

  udp::socket udp_;
  tcp::acceptor acceptor_;
  std::array<char, wire::kMaxMessage + 1> datagram_{};
  udp::endpoint datagram_source_;
  std::vector<std::shared_ptr<Stream>> streams_;
  std::shared_ptr<Stream> server_stream_;
  uint16_t local_port_ = 0;
  std::string local_ip_;
  std::string contact_host_;  // learned from received/rport (UDP), else local_ip_
  uint16_t contact_port_ = 0;
  std::optional<Dest> server_;
  std::vector<ServerTarget> targets_;  // from the last lookup, in order
  std::size_t target_index_ = 0;
  std::unique_ptr<ServerResolver> resolver_;
  std::string server_cert_;
  std::mt19937 rng_;

  std::map<std::string, std::shared_ptr<ClientTx>> client_txs_;
  std::map<std::string, std::shared_ptr<ServerTx>> server_txs_;
  std::map<CallHandle, std::shared_ptr<Call>> calls_;

  // Registration.
  RegistrationState reg_state_ = RegistrationState::unregistered;
  std::string reg_call_id_;
  std::string reg_tag_;
  uint32_t reg_cseq_ = 0;
  bool reg_in_flight_ = false;
  std::string reg_branch_;
  std::optional<Credentials> reg_auth_;
  bool reg_auth_fresh_ = false;  // the credentials we sent answered the last challenge
  Millis backoff_{1000};
  TimerPtr reg_timer_;
  TimerPtr keepalive_timer_;
  TimerPtr pong_timer_;
  bool pong_seen_ = false;
  bool options_in_flight_ = false;
  std::chrono::seconds granted_{0};
  std::string registrar_realm_;                    // from the REGISTER challenge
  std::map<std::string, Credentials> proxy_auth_;  // realm -> last challenge (INVITE/MESSAGE)

  // Stop.
  std::function<void()> stop_done_;
  TimerPtr stop_timer_;

  // Flood log limiting.
  TimePoint last_flood_log_{};
  int flood_suppressed_ = 0;

  Millis t1() const {
    return std::max(Millis{1}, Millis{config_.transaction_timeout.count() / 64});
  }
  Millis t2() const { return std::min(Millis{4000}, t1() * 8); }

  TimerPtr make_timer() { return std::make_shared<asio::steady_timer>(executor_); }

  template <class F>
  void after(const TimerPtr& timer, Millis delay, F fn) {
    timer->expires_after(delay);
    std::weak_ptr<Impl> weak = shared_from_this();
    timer->async_wait([weak, fn = std::move(fn)](std::error_code ec) mutable {
      if (ec) return;
      auto self = weak.lock();
      if (!self || self->dead_) return;
      fn();
    });
  }

  void emit(std::function<void(Listener&)> fn) {
    std::weak_ptr<Impl> weak = shared_from_this();
    asio::post(executor_, [weak, fn = std::move(fn)] {
      auto self = weak.lock();
      if (!self || self->dead_) return;
      fn(*self->listener_);
    });
  }

  void observe(bool outgoing, std::string_view bytes) {
    if (!observer_) return;
    observer_(outgoing, wire::redact(bytes));
  }

  std::string aor() const { return "sip:" + config_.user + "@" + config_.domain; }

  // --- transports ----------------------------------------------------------

  Result<void> open_transports() {
    if (udp_.is_open()) return {};
    std::error_code ec;
    asio::ip::address bind_address = asio::ip::address_v4::any();
    if (!config_.local_address.empty()) {
      bind_address = make_address(config_.local_address);
      if (bind_address.is_unspecified() && config_.local_address != "0.0.0.0")
        return fail(Errc::invalid_argument, "bad local address " + config_.local_address);
    }
    // UDP and the TCP listener share one port number (the one in our
    // Contact). The UDP port the OS picks may be taken on TCP by some other
    // connection: then pick again.
    for (int attempt = 0;; ++attempt) {
      udp::endpoint local(bind_address, 0);
      udp_.open(local.protocol(), ec);
      if (!ec) udp_.bind(local, ec);
      if (ec) return fail(Errc::io, "could not open a UDP socket: " + ec.message());
      local_port_ = udp_.local_endpoint(ec).port();
      if (config_.transport == Transport::udp) break;
      tcp::endpoint tcp_local(bind_address, local_port_);
      acceptor_.open(tcp_local.protocol(), ec);
      if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec) acceptor_.bind(tcp_local, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
      if (!ec) {
        accept_loop();
        break;
      }
      std::error_code ignored;
      acceptor_.close(ignored);
      if (attempt == 15) {
        log::info(kLog,
                  "no TCP listener on port " + std::to_string(local_port_) + ": " + ec.message());
        break;
      }
      udp_.close(ignored);
    }
    // A burst of requests (a flood of INVITEs, many MESSAGEs at once) must not
    // make the kernel drop what follows it: 1 MB instead of the default ~200 kB
    // (the kernel caps it at net.core.rmem_max; failing is harmless).
    std::error_code ignored;
    udp_.set_option(udp::socket::receive_buffer_size(1 << 20), ignored);
    if (!bind_address.is_unspecified()) local_ip_ = bind_address.to_string();
    read_datagram();
    return {};
  }

  void close_transports() {
    std::error_code ignored;
    udp_.close(ignored);
    acceptor_.close(ignored);
    for (auto& stream : streams_) stream->close();
    streams_.clear();
    server_stream_.reset();
    resolver_.reset();
  }

  void read_datagram() {
    if (!udp_.is_open()) return;
    std::weak_ptr<Impl> weak = shared_from_this();
    udp_.async_receive_from(asio::buffer(datagram_), datagram_source_,
                            [weak](std::error_code ec, std::size_t n) {
                              auto self = weak.lock();
                              if (!self || self->dead_ || !self->udp_.is_open()) return;
                              if (!ec) {
                                Source source{Transport::udp,
                                              self->datagram_source_.address(),
                                              self->datagram_source_.port(),
                                              {}};
                                self->receive(std::string_view(self->datagram_.data(), n), source);
                              } else if (ec == asio::error::operation_aborted) {
                                return;
                              }
                              // ICMP errors (connection refused) surface here: keep reading.
                              self->read_datagram();
                            });
  }

  void accept_loop() {
    std::weak_ptr<Impl> weak = shared_from_this();
    acceptor_.async_accept([weak](std::error_code ec, tcp::socket socket) {
      auto self = weak.lock();
      if (!self || self->dead_ || !self->acceptor_.is_open()) return;
      if (!ec && self->accepted_streams() >= kMaxAcceptedStreams) {
        log::warn(kLog, "too many SIP connections from peers: closing a new one");
        std::error_code ignored;
        socket.close(ignored);
      } else if (!ec) {
        auto stream = std::make_shared<Stream>(std::move(socket));
        self->adopt(stream, Transport::tcp);
        stream->start_reading();
      }
      self->accept_loop();
    });
  }

  std::size_t accepted_streams() const {
    return static_cast<std::size_t>(std::count_if(
        streams_.begin(), streams_.end(),
        [this](const auto& stream) { return stream != server_stream_ && !stream->closed(); }));
  }

  void adopt(const std::shared_ptr<Stream>& stream, Transport transport) {
    streams_.push_back(stream);
    std::weak_ptr<Impl> weak = shared_from_this();
    std::weak_ptr<Stream> weak_stream = stream;
    Stream::Handler handler;
    handler.on_ready = [weak, weak_stream] {
      auto self = weak.lock();
      auto s = weak_stream.lock();
      if (!self || self->dead_ || !s) return;
      if (s == self->server_stream_) self->on_server_stream_ready();
    };
    handler.on_message = [weak, weak_stream, transport](std::string_view bytes) {
      auto self = weak.lock();
      auto s = weak_stream.lock();
      if (!self || self->dead_ || !s) return;
      Source source{transport, s->remote().address(), s->remote().port(), s};
      self->receive(bytes, source);
    };
    handler.on_pong = [weak] {
      auto self = weak.lock();
      if (!self || self->dead_) return;
      self->pong_seen_ = true;
      if (self->pong_timer_) self->pong_timer_->cancel();
    };
    handler.on_closed = [weak, weak_stream](const Error& error) {
      auto self = weak.lock();
      auto s = weak_stream.lock();
      if (!self || self->dead_ || !s) return;
      std::erase(self->streams_, s);
      if (s == self->server_stream_) self->on_server_stream_lost(error);
    };
    stream->set_handler(std::move(handler));
  }

  std::shared_ptr<Stream> stream_to(const Dest& dest) {
    tcp::endpoint remote(dest.address, dest.port);
    for (auto& stream : streams_)
      if (!stream->closed() && stream->remote() == remote &&
          stream->tls() == (dest.transport == Transport::tls))
        return stream;
    auto stream = std::make_shared<Stream>(executor_);
    adopt(stream, dest.transport);
    std::string name = dest.host.empty() ? config_.domain : dest.host;
    stream->connect(remote, dest.transport == Transport::tls, name, config_.pinned_sha256,
                    config_.transaction_timeout / 4);
    return stream;
  }

  void send_to(const Dest& dest, const std::string& bytes) {
    observe(true, bytes);
    if (dest.transport == Transport::udp) {
      if (!udp_.is_open()) return;
      auto data = std::make_shared<std::string>(bytes);
      udp_.async_send_to(asio::buffer(*data), udp::endpoint(dest.address, dest.port),
                         [data](std::error_code, std::size_t) {});
      return;
    }
    std::shared_ptr<Stream> stream;
    if (server_ && dest == *server_) {
      if (!server_stream_) return;  // reconnecting; the transaction times out or is resent
      stream = server_stream_;
    } else {
      stream = stream_to(dest);
    }
    stream->write(bytes);
  }

  void send_back(const Source& source, const std::string& bytes) {
    if (source.transport == Transport::udp) {
      Dest dest{Transport::udp, source.address, source.port, {}};
      send_to(dest, bytes);
      return;
    }
    observe(true, bytes);
    if (auto stream = source.stream.lock(); stream && !stream->closed()) {
      stream->write(bytes);
      return;
    }
    // The connection is gone: open a new one to where it came from.
    Dest dest{source.transport, source.address, source.port, {}};
    stream_to(dest)->write(bytes);
  }

  // Contact host:port for messages that go to (or came from) `dest`.
  std::string contact_uri(Transport transport, const std::shared_ptr<Stream>& stream = {}) {
    std::string host = contact_host_.empty() ? local_ip_ : contact_host_;
    if (host.empty()) host = "127.0.0.1";
    uint16_t port = contact_port_ != 0 ? contact_port_ : local_port_;
    if (transport != Transport::udp) {
      if (stream && stream == server_stream_ && stream->ready())
        port = stream->local().port();
      else
        port = local_port_;
      host = local_ip_.empty() ? host : local_ip_;
    }
    std::string uri =
        "sip:" + config_.user + "@" + host_text(make_address(host)) + ":" + std::to_string(port);
    if (transport == Transport::tcp) uri += ";transport=tcp";
    if (transport == Transport::tls) uri += ";transport=tls";
    return uri;
  }

  std::string contact_for(const Dest& dest) {
    std::shared_ptr<Stream> stream;
    if (server_ && dest == *server_) stream = server_stream_;
    return "<" + contact_uri(dest.transport, stream) + ">";
  }

  std::string via_for(const Dest& dest, const std::string& branch) {
    std::string host = local_ip_.empty() ? "127.0.0.1" : local_ip_;
    uint16_t port = local_port_;
    if (dest.transport != Transport::udp && server_ && dest == *server_ && server_stream_ &&
        server_stream_->ready())
      port = server_stream_->local().port();
    return "SIP/2.0/" + transport_token(dest.transport) + " " + host_text(make_address(host)) +
           ":" + std::to_string(port) + ";rport;branch=" + branch;
  }

  // Where a request for `uri` goes outside a dialog: the outbound proxy if
  // set, an IP literal as it is, else the server.
  std::optional<Dest> dest_for_uri(const std::string& uri, bool initial) {
    if (initial && !config_.proxy_host.empty()) return server_;
    auto parts = parse_uri(uri);
    if (!parts) return std::nullopt;
    if (is_ip_literal(parts->host)) {
      Dest dest;
      dest.transport = config_.transport;
      if (parts->transport == "udp") dest.transport = Transport::udp;
      if (parts->transport == "tcp") dest.transport = Transport::tcp;
      if (parts->transport == "tls" || parts->scheme == "sips") dest.transport = Transport::tls;
      dest.address = make_address(parts->host);
      dest.port = parts->port != 0 ? parts->port : (dest.transport == Transport::tls ? 5061 : 5060);
      dest.host = parts->host;
      if (server_ && server_->address == dest.address && server_->port == dest.port) return server_;
      return dest;
    }
    return server_;
  }

  // --- requests ------------------------------------------------------------

  std::string build_request(const RequestSpec& spec, const Dest& dest, const std::string& branch) {
    std::string out = spec.method + " " + spec.request_uri + " SIP/2.0\r\n";
    out += "Via: " + via_for(dest, branch) + "\r\n";
    out += "Max-Forwards: 70\r\n";
    for (const auto& route : spec.routes) out += "Route: " + route + "\r\n";
    out += "From: " + spec.from + "\r\n";
    out += "To: " + spec.to + "\r\n";
    out += "Call-ID: " + spec.call_id + "\r\n";
    out += "CSeq: " + std::to_string(spec.cseq) + " " + spec.method + "\r\n";
    if (!spec.contact.empty()) out += "Contact: " + spec.contact + "\r\n";
    for (const auto& header : spec.headers) out += header + "\r\n";
    if (spec.method != "ACK" && spec.method != "CANCEL")
      out += "Allow: " + std::string(kAllow) + "\r\n";
    out += "User-Agent: " + config_.user_agent + "\r\n";
    if (!spec.body.empty()) out += "Content-Type: " + spec.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(spec.body.size()) + "\r\n\r\n";
    out += spec.body;
    return out;
  }

  static std::string new_branch() { return "z9hG4bK" + random_token(16); }

  // Starts a client transaction; `on_result` gets the responses (1xx
  // included) and nullptr on timeout.
  std::shared_ptr<ClientTx> start_tx(const RequestSpec& spec, const Dest& dest,
                                     const std::string& branch,
                                     std::function<void(const Message*)> on_result) {
    auto tx = std::make_shared<ClientTx>();
    tx->key = branch + "|" + spec.method;
    tx->invite = spec.method == "INVITE";
    tx->bytes = build_request(spec, dest, branch);
    tx->dest = dest;
    tx->interval = t1();
    tx->on_result = std::move(on_result);
    tx->timeout = make_timer();
    client_txs_[tx->key] = tx;
    send_to(dest, tx->bytes);
    if (dest.transport == Transport::udp) {
      tx->retransmit = make_timer();
      arm_retransmit(tx);
    }
    arm_timeout(tx);
    return tx;
  }

  // Timer B / F: no final answer in time ends the transaction.
  void arm_timeout(const std::shared_ptr<ClientTx>& tx) {
    std::weak_ptr<ClientTx> weak_tx = tx;
    after(tx->timeout, config_.transaction_timeout, [this, weak_tx] {
      auto tx = weak_tx.lock();
      // RFC 3261 §17.1.1.2: Timer B stops at the first provisional answer;
      // from then on the call's own ringing limit applies.
      if (!tx || tx->completed || (tx->rings && tx->provisional)) return;
      client_txs_.erase(tx->key);
      if (tx->retransmit) tx->retransmit->cancel();
      auto callback = std::move(tx->on_result);
      if (callback) callback(nullptr);
    });
  }

  void arm_retransmit(const std::shared_ptr<ClientTx>& tx) {
    std::weak_ptr<ClientTx> weak_tx = tx;
    after(tx->retransmit, tx->interval, [this, weak_tx] {
      auto tx = weak_tx.lock();
      if (!tx || tx->completed) return;
      if (tx->invite && tx->provisional) return;
      send_to(tx->dest, tx->bytes);
      tx->interval = tx->invite ? tx->interval * 2 : std::min(tx->interval * 2, t2());
      arm_retransmit(tx);
    });
  }

  void handle_response(const Message& response, const Source& source) {
    const auto& branch = response.vias.front().branch;
    auto it = client_txs_.find(branch + "|" + response.cseq_method);
    if (it == client_txs_.end()) {
      if (response.cseq_method == "INVITE" && response.status >= 200 && response.status < 300)
        retransmitted_invite_ok(response);
      return;
    }
    auto tx = it->second;
    if (tx->completed) {
      if (!tx->ack_bytes.empty()) send_to(tx->dest, tx->ack_bytes);
      return;
    }
    (void)source;
    if (response.status < 200) {
      tx->provisional = true;
      if (!tx->invite) tx->interval = t2();
      if (tx->on_result) tx->on_result(&response);
      return;
    }
    if (tx->retransmit) tx->retransmit->cancel();
    if (tx->invite && response.status >= 300) {
      // RFC 3261 §17.1.1.3: the transaction ACKs non-2xx finals itself.
      tx->ack_bytes = ack_for_error(*tx, response);
      send_to(tx->dest, tx->ack_bytes);
      tx->completed = true;
      std::weak_ptr<ClientTx> weak_tx = tx;
      std::string key = tx->key;
      tx->timeout->cancel();
      after(tx->timeout, tx->dest.transport == Transport::udp ? Millis{32000} : Millis{0},
            [this, key] { client_txs_.erase(key); });
    } else {
      tx->completed = true;
      tx->timeout->cancel();
      client_txs_.erase(tx->key);
    }
    auto callback = std::move(tx->on_result);
    if (callback) callback(&response);
  }

  std::string ack_for_error(const ClientTx& tx, const Message& response) {
    // The INVITE's first lines, with ACK, the response's To, no body.
    std::string_view invite = tx.bytes;
    std::string out;
    auto line_end = invite.find("\r\n");
    std::string request_line(invite.substr(0, line_end));
    auto space = request_line.find(' ');
    out = "ACK" + request_line.substr(space) + "\r\n";
    std::size_t pos = line_end + 2;
    while (pos < invite.size()) {
      auto end = invite.find("\r\n", pos);
      if (end == std::string_view::npos || end == pos) break;
      std::string_view line = invite.substr(pos, end - pos);
      pos = end + 2;
      auto starts = [&](std::string_view name) {
        return line.size() > name.size() && istarts_with(line, name);
      };
      if (starts("Via:") || starts("From:") || starts("Call-ID:") || starts("Route:") ||
          starts("Max-Forwards:"))
        out += std::string(line) + "\r\n";
      else if (starts("To:"))
        out += "To: " + response.to.header + "\r\n";
      else if (starts("CSeq:")) {
        auto value = std::string(line.substr(5));
        auto number = std::stoul(value.substr(value.find_first_not_of(' ')));
        out += "CSeq: " + std::to_string(number) + " ACK\r\n";
      }
    }
    out += "Content-Length: 0\r\n\r\n";
    return out;
  }

  // --- incoming ------------------------------------------------------------

  void receive(std::string_view bytes, const Source& source) {
    if (bytes.find_first_not_of("\r\n") == std::string_view::npos) return;  // keep-alive
    observe(false, bytes);
    auto parsed = wire::parse(bytes, source.transport == Transport::udp);
    if (!parsed) {
      const auto& error = parsed.error();
      log::info(kLog, "bad SIP message from " + source.address.to_string() + ": " + error.reason);
      if (error.status != 0) {
        auto answer = wire::error_response(bytes, error.status, error.reason);
        if (answer.empty()) answer = fallback_response(bytes, error.status, error.reason);
        if (!answer.empty()) send_back(source, answer);
      } else if (bytes.rfind("SIP/", 0) != 0) {
        // A request too broken for wire to answer (no Call-ID, say): still
        // tell the sender, from whatever header lines are there.
        auto answer = fallback_response(bytes, 400, error.reason);
        if (!answer.empty()) send_back(source, answer);
      }
      return;
    }
    std::string why;
    auto message = extract(*parsed.value(), &why);
    if (!message) {
      log::info(kLog, "unusable SIP message from " + source.address.to_string() + ": " + why);
      if (bytes.rfind("SIP/", 0) != 0) {
        auto answer = wire::error_response(bytes, 400, why);
        if (!answer.empty()) send_back(source, answer);
      }
      return;
    }
    if (message->request)
      handle_request(*message, source);
    else
      handle_response(*message, source);
  }

  std::string response_text(const Message& request, int status, std::string_view to_tag = {},
                            const std::vector<std::string>& headers = {},
                            const std::string& content_type = {}, const std::string& body = {},
                            std::string_view reason = {}) {
    std::string out = "SIP/2.0 " + std::to_string(status) + " " +
                      std::string(reason.empty() ? reason_phrase(status) : reason) + "\r\n";
    for (const auto& via : request.vias) out += "Via: " + via.header + "\r\n";
    if (request.method == "INVITE" && status > 100 && status < 300)
      for (const auto& rr : request.record_routes) out += "Record-Route: " + rr + "\r\n";
    out += "From: " + request.from.header + "\r\n";
    out += "To: " + request.to.header;
    if (request.to.tag.empty() && !to_tag.empty() && status > 100)
      out += ";tag=" + std::string(to_tag);
    out += "\r\n";
    out += "Call-ID: " + request.call_id + "\r\n";
    out += "CSeq: " + std::to_string(request.cseq) + " " + request.cseq_method + "\r\n";
    for (const auto& header : headers) out += header + "\r\n";
    out += "Server: " + config_.user_agent + "\r\n";
    if (!body.empty()) out += "Content-Type: " + content_type + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
  }

  // Sends `text` as the server transaction's answer and remembers it.
  void respond(const std::shared_ptr<ServerTx>& tx, int status, std::string text) {
    tx->last_response = std::move(text);
    tx->last_status = status;
    send_back(tx->source, tx->last_response);
    if (status >= 200) {
      tx->expires_at = Clock::now() + Millis{32000};
      if (tx->invite && status >= 300 && tx->source.transport == Transport::udp) {
        tx->retransmit = make_timer();
        tx->interval = t1();
        arm_server_retransmit(tx, Clock::now() + config_.transaction_timeout);
      }
    }
  }

  void arm_server_retransmit(const std::shared_ptr<ServerTx>& tx, TimePoint until) {
    std::weak_ptr<ServerTx> weak_tx = tx;
    after(tx->retransmit, tx->interval, [this, weak_tx, until] {
      auto tx = weak_tx.lock();
      if (!tx || Clock::now() >= until) return;
      send_back(tx->source, tx->last_response);
      tx->interval = std::min(tx->interval * 2, t2());
      arm_server_retransmit(tx, until);
    });
  }

  void sweep_server_txs() {
    auto now = Clock::now();
    std::erase_if(server_txs_, [now](const auto& entry) { return entry.second->expires_at < now; });
    // A flood of requests: answered transactions only serve retransmissions.
    if (server_txs_.size() > kMaxServerTxs)
      std::erase_if(server_txs_, [](const auto& entry) {
        return entry.second->last_status >= 200 && !entry.second->retransmit;
      });
  }

  void handle_request(const Message& request, const Source& source) {
    const auto& branch = request.vias.front().branch;
    sweep_server_txs();
    if (request.method == "ACK") {
      auto it = server_txs_.find(branch + "|INVITE");
      if (it != server_txs_.end() && it->second->last_status >= 300) {
        if (it->second->retransmit) it->second->retransmit->cancel();
        return;  // the ACK for our error answer
      }
      ack_received(request);
      return;
    }
    std::string key = branch + "|" + request.method;
    if (auto it = server_txs_.find(key); it != server_txs_.end()) {
      if (!it->second->last_response.empty()) send_back(source, it->second->last_response);
      return;  // a retransmission
    }
    auto tx = std::make_shared<ServerTx>();
    tx->key = key;
    tx->invite = request.method == "INVITE";
    tx->source = source;
    server_txs_[key] = tx;

    if (request.method == "CANCEL") {
      cancel_received(request, tx);
      return;
    }
    bool in_dialog = !request.to.tag.empty();
    if (in_dialog) {
      auto call = find_dialog(request.call_id, request.to.tag, request.from.tag);
      if (!call) {
        respond(tx, 481, response_text(request, 481));
        return;
      }
      if (request.cseq <= call->remote_cseq && call->remote_cseq != 0) {
        respond(tx, 500, response_text(request, 500, {}, {}, {}, {}, "CSeq Out of Order"));
        return;
      }
      call->remote_cseq = request.cseq;
      if (request.method == "BYE") {
        respond(tx, 200, response_text(request, 200));
        end_call(call, EndReason::remote_hangup, 0);
      } else if (request.method == "INVITE") {
        reinvite_received(call, request, tx);
      } else if (request.method == "MESSAGE") {
        message_received(request, tx);
      } else if (request.method == "OPTIONS") {
        respond(tx, 200, response_text(request, 200, {}, {"Allow: " + std::string(kAllow)}));
      } else {
        respond(tx, 405, response_text(request, 405, {}, {"Allow: " + std::string(kAllow)}));
      }
      return;
    }
    if (request.method == "INVITE") {
      invite_received(request, tx);
    } else if (request.method == "MESSAGE") {
      message_received(request, tx);
    } else if (request.method == "OPTIONS") {
      respond(
          tx, 200,
          response_text(request, 200, random_token(),
                        {"Allow: " + std::string(kAllow), "Accept: application/sdp, text/plain"}));
    } else if (request.method == "BYE") {
      respond(tx, 481, response_text(request, 481));
    } else {
      respond(tx, 405,
              response_text(request, 405, random_token(), {"Allow: " + std::string(kAllow)}));
    }
  }

  std::shared_ptr<Call> find_dialog(const std::string& call_id, const std::string& local_tag,
                                    const std::string& remote_tag) {
    for (auto& [handle, call] : calls_) {
      if (call->call_id != call_id || call->local_tag != local_tag) continue;
      if (call->state == CallState::ended) continue;
      if (call->remote_tag.empty() || call->remote_tag == remote_tag) return call;
    }
    return nullptr;
  }

  std::shared_ptr<Call> find_by_call_id(const std::string& call_id) {
    for (auto& [handle, call] : calls_)
      if (call->call_id == call_id) return call;
    return nullptr;
  }

  // --- MESSAGE -------------------------------------------------------------

  void message_received(const Message& request, const std::shared_ptr<ServerTx>& tx) {
    std::string type = request.content_type.empty() ? "text/plain" : request.content_type;
    respond(tx, 200, response_text(request, 200, random_token()));
    std::string from = request.from.uri;
    if (auto parts = parse_uri(from)) {
      from = parts->scheme + ":" + (parts->user.empty() ? "" : parts->user + "@") +
             (is_ip_literal(parts->host) && make_address(parts->host).is_v6()
                  ? host_text(make_address(parts->host))
                  : parts->host);
      if (parts->port != 0) from += ":" + std::to_string(parts->port);
    }
    std::string body = request.body;
    emit([from, body, type](Listener& l) { l.on_message(from, body, type); });
  }

  Result<std::string> send_message(const std::string& to, const std::string& body, std::string id,
                                   const std::string& content_type) {
    if (!running_ || stopping_) return fail(Errc::not_connected, "the SIP account is not started");
    auto uri = normalize_uri(to, config_.domain);
    if (!uri) return tl::make_unexpected(uri.error());
    auto dest = dest_for_uri(*uri, true);
    if (!dest) return fail(Errc::not_connected, "the SIP server is not reachable yet");
    if (id.empty()) id = random_id();
    RequestSpec spec;
    spec.method = "MESSAGE";
    spec.request_uri = *uri;
    spec.from = name_addr(config_.display_name, aor(), random_token());
    spec.to = name_addr({}, *uri);
    spec.call_id = random_token(20);
    spec.cseq = 1;
    spec.content_type = content_type;
    spec.body = body;
    send_message_attempt(spec, *dest, id, *uri, 0);
    return id;
  }

  void send_message_attempt(RequestSpec spec, Dest dest, std::string id, std::string to,
                            int tries) {
    std::weak_ptr<Impl> weak = shared_from_this();
    start_tx(
        spec, dest, new_branch(),
        [this, weak, spec, dest, id, to, tries](const Message* response) mutable {
          if (response != nullptr && response->status < 200) return;
          if (response == nullptr) {
            emit([id, to](Listener& l) {
              l.on_message_result(id, to, fail(Errc::timeout, "the message was not answered"));
            });
            return;
          }
          if ((response->status == 401 || response->status == 407) && tries < 2) {
            if (auto header = authorize(*response, spec.method, spec.request_uri, tries > 0)) {
              spec.cseq += 1;
              std::erase_if(spec.headers, [](const std::string& h) {
                return h.rfind("Authorization:", 0) == 0 || h.rfind("Proxy-Authorization:", 0) == 0;
              });
              spec.headers.push_back(*header);
              send_message_attempt(spec, dest, id, to, tries + 1);
              return;
            }
          }
          Result<void> result;
          if (response->status >= 300)
            result =
                fail(response->status == 404 || response->status == 480 ? Errc::not_found
                     : response->status == 401 || response->status == 403 || response->status == 407
                         ? Errc::auth
                         : Errc::not_allowed,
                     "the message was refused: " + std::to_string(response->status) + " " +
                         response->reason);
          emit([id, to, result](Listener& l) { l.on_message_result(id, to, result); });
        });
  }

  // An Authorization / Proxy-Authorization header line answering the
  // response's challenge; nullopt when none can be answered (or `retry` and
  // the challenge is not stale: the password is wrong).
  std::optional<std::string> authorize(const Message& response, const std::string& method,
                                       const std::string& uri, bool retry) {
    bool proxy = response.status == 407;
    const auto& values = proxy ? response.proxy_authenticate : response.www_authenticate;
    std::vector<digest::Challenge> challenges;
    for (const auto& value : values)
      if (auto c = digest::parse_challenge(value, proxy)) challenges.push_back(*c);
    auto chosen = digest::choose(challenges);
    if (!chosen) return std::nullopt;
    if (retry && !chosen->stale) return std::nullopt;
    // Whoever we call or message can answer with a challenge of their own;
    // answering it would hand them a hash of our password to crack. Only
    // the account's own realm (the registrar's, or the domain) gets one.
    if (chosen->realm != config_.domain && chosen->realm != registrar_realm_) {
      log::warn(kLog,
                "not answering a challenge from another realm: only the account's own "
                "server gets proof of its password");
      return std::nullopt;
    }
    Credentials& cred = proxy_auth_[chosen->realm];
    if (cred.challenge.nonce != chosen->nonce) cred.nc = 0;
    cred.challenge = *chosen;
    cred.nc += 1;
    return header_for(cred, method, uri);
  }

  std::string header_for(const Credentials& cred, const std::string& method,
                         const std::string& uri) {
    digest::Answer answer;
    answer.user = config_.auth_user.empty() ? config_.user : config_.auth_user;
    answer.password = config_.password;
    answer.method = method;
    answer.uri = uri;
    answer.nc = cred.nc;
    answer.cnonce = random_token(16);
    std::string header =
        std::string(cred.challenge.proxy ? "Proxy-Authorization: " : "Authorization: ") +
        digest::authorization(cred.challenge, answer);
    secure_wipe(answer.password);
    return header;
  }

  // --- registration --------------------------------------------------------

  void set_reg_state(RegistrationState state, std::optional<Error> error = std::nullopt) {
    if (state == reg_state_ && !error) return;
    reg_state_ = state;
    emit([state, error](Listener& l) { l.on_registration(state, error); });
  }

  void start() {
    if (running_ && reg_state_ != RegistrationState::failed) return;
    running_ = true;
    stopping_ = false;
    if (auto opened = open_transports(); !opened) {
      set_reg_state(RegistrationState::failed, opened.error());
      return;
    }
    reg_call_id_ = random_token(20);
    reg_tag_ = random_token();
    reg_auth_.reset();
    registrar_realm_.clear();
    options_in_flight_ = false;
    pong_seen_ = false;
    backoff_ = Millis{1000};
    set_reg_state(RegistrationState::registering);
    connect_server();
  }

  void connect_server() {
    if (!running_ || stopping_) return;
    if (server_) {
      ensure_server_transport();
      return;
    }
    resolver_ = std::make_unique<ServerResolver>(executor_);
    std::weak_ptr<Impl> weak = shared_from_this();
    std::string host = config_.proxy_host.empty() ? config_.domain : config_.proxy_host;
    resolver_->resolve(
        host, config_.proxy_port, config_.transport, !config_.proxy_host.empty(),
        [weak](Result<std::vector<ServerTarget>> targets) {
          auto self = weak.lock();
          if (!self || self->dead_ || !self->running_) return;
          self->resolver_.reset();
          if (!targets || targets->empty()) {
            self->registration_failed_soft(targets ? Error{Errc::network, "no SIP server found", {}}
                                                   : targets.error());
            return;
          }
          self->targets_ = std::move(*targets);
          self->target_index_ = 0;
          const auto& target = self->targets_.front();
          self->server_ = Dest{target.transport, target.address, target.port, target.host};
          self->ensure_server_transport();
        });
  }

  void ensure_server_transport() {
    if (!server_) return;
    if (server_->transport == Transport::udp) {
      learn_local_ip();
      send_register();
      return;
    }
    if (server_stream_ && !server_stream_->closed()) {
      if (server_stream_->ready()) send_register();
      return;
    }
    auto stream = std::make_shared<Stream>(executor_);
    server_stream_ = stream;
    adopt(stream, server_->transport);
    stream->connect(tcp::endpoint(server_->address, server_->port),
                    server_->transport == Transport::tls,
                    server_->host.empty() ? config_.domain : server_->host, config_.pinned_sha256,
                    config_.transaction_timeout / 4);
  }

  void learn_local_ip() {
    if (!local_ip_.empty() || !server_) return;
    std::error_code ec;
    udp::socket probe(executor_);
    probe.open(server_->address.is_v6() ? udp::v6() : udp::v4(), ec);
    if (!ec) probe.connect(udp::endpoint(server_->address, server_->port), ec);
    if (!ec) local_ip_ = probe.local_endpoint(ec).address().to_string();
  }

  void on_server_stream_ready() {
    server_cert_ = server_stream_->cert_sha256();
    local_ip_ =
        config_.local_address.empty() ? server_stream_->local().address().to_string() : local_ip_;
    pong_seen_ = false;
    send_register();
  }

  void on_server_stream_lost(const Error& error) {
    if (!server_stream_) return;
    if (!server_stream_->cert_sha256().empty()) server_cert_ = server_stream_->cert_sha256();
    server_stream_.reset();
    if (keepalive_timer_) keepalive_timer_->cancel();
    if (pong_timer_) pong_timer_->cancel();
    if (!running_ || stopping_) return;
    log::info(kLog, "connection to the SIP server lost: " + error.message);
    if (error.code == Errc::certificate) {
      // Stays "running" in the failed state, so that stop() still ends the
      // calls and closes the sockets, and start() (after a pin) tries again.
      fail_registration(error);
      return;
    }
    // Transactions that were using it fail fast rather than at their timeout.
    if (reg_in_flight_) {
      client_txs_.erase(reg_branch_ + "|REGISTER");
      reg_in_flight_ = false;
    }
    registration_failed_soft(error);
  }

  void registration_failed_soft(Error error) {
    if (!running_ || stopping_) return;
    if (error.code == Errc::network || error.code == Errc::timeout) next_target();
    set_reg_state(RegistrationState::retrying, std::move(error));
    if (!reg_timer_) reg_timer_ = make_timer();
    auto delay = backoff_;
    backoff_ = std::min<Millis>(backoff_ * 2, kMaxBackoff);
    after(reg_timer_, delay, [this] {
      if (server_ && server_->transport != Transport::udp && !server_stream_)
        ensure_server_transport();
      else if (!server_)
        connect_server();
      else
        send_register();
    });
  }

  // RFC 3263 §4.3: the next server from the lookup; after the last one, a
  // new lookup.
  void next_target() {
    if (server_stream_) {
      auto stream = server_stream_;
      server_stream_.reset();
      stream->close();
      std::erase(streams_, stream);
    }
    if (target_index_ + 1 < targets_.size()) {
      const auto& target = targets_[++target_index_];
      server_ = Dest{target.transport, target.address, target.port, target.host};
      return;
    }
    server_.reset();
    targets_.clear();
    target_index_ = 0;
  }

  void send_register(bool unregister = false, std::function<void()> done = {}) {
    if (!server_) {
      if (done) done();
      return;
    }
    if (server_->transport != Transport::udp && (!server_stream_ || !server_stream_->ready())) {
      if (done) done();
      return;
    }
    if (reg_in_flight_) {
      client_txs_.erase(reg_branch_ + "|REGISTER");
      reg_in_flight_ = false;
    }
    if (reg_timer_) reg_timer_->cancel();
    if (!unregister && reg_state_ != RegistrationState::registered)
      set_reg_state(RegistrationState::registering);
    RequestSpec spec;
    spec.method = "REGISTER";
    spec.request_uri = "sip:" + config_.domain;
    spec.from = name_addr(config_.display_name, aor(), reg_tag_);
    spec.to = name_addr(config_.display_name, aor());
    spec.call_id = reg_call_id_;
    spec.cseq = ++reg_cseq_;
    spec.contact = contact_for(*server_);
    auto expires = unregister ? 0 : static_cast<int>(config_.expires.count());
    spec.headers.push_back("Expires: " + std::to_string(expires));
    if (reg_auth_) {
      reg_auth_->nc += 1;
      spec.headers.push_back(header_for(*reg_auth_, "REGISTER", spec.request_uri));
    }
    reg_branch_ = new_branch();
    reg_in_flight_ = true;
    std::string contact = strip_brackets(spec.contact);
    start_tx(spec, *server_, reg_branch_,
             [this, unregister, done, contact, spec](const Message* response) {
               if (response != nullptr && response->status < 200) return;
               reg_in_flight_ = false;
               if (unregister) {
                 if (response && (response->status == 401 || response->status == 407) &&
                     !reg_auth_fresh_) {
                   if (learn_register_challenge(*response)) {
                     reg_auth_fresh_ = true;
                     send_register(true, done);
                     return;
                   }
                 }
                 if (done) done();
                 return;
               }
               register_answered(response, contact);
             });
  }

  bool learn_register_challenge(const Message& response) {
    bool proxy = response.status == 407;
    const auto& values = proxy ? response.proxy_authenticate : response.www_authenticate;
    std::vector<digest::Challenge> challenges;
    for (const auto& value : values)
      if (auto c = digest::parse_challenge(value, proxy)) challenges.push_back(*c);
    auto chosen = digest::choose(challenges);
    if (!chosen) return false;
    reg_auth_ = Credentials{*chosen, 0};
    registrar_realm_ = chosen->realm;
    return true;
  }

  void register_answered(const Message* response, const std::string& contact) {
    if (response == nullptr) {
      log::info(kLog, "the registrar did not answer");
      registration_failed_soft(Error{Errc::timeout, "the SIP server did not answer", {}});
      return;
    }
    int status = response->status;
    if (status == 401 || status == 407) {
      bool was_fresh = reg_auth_fresh_ && reg_auth_.has_value();
      bool stale = false;
      auto previous_nonce = reg_auth_ ? reg_auth_->challenge.nonce : std::string();
      if (!learn_register_challenge(*response)) {
        fail_registration(Error{Errc::not_supported,
                                "the SIP server asks for an authentication we do not support",
                                {}});
        return;
      }
      stale = reg_auth_->challenge.stale;
      if (was_fresh && !stale) {
        reg_auth_.reset();
        reg_auth_fresh_ = false;
        fail_registration(Error{Errc::auth, "the SIP server refused the password", {}});
        return;
      }
      reg_auth_fresh_ = true;
      send_register();
      return;
    }
    reg_auth_fresh_ = false;
    if (status == 403) {
      fail_registration(Error{Errc::auth, "the SIP server refused the password", {}});
      return;
    }
    if (status == 423 && response->min_expires && *response->min_expires > 0 &&
        *response->min_expires <= 86400 &&
        std::chrono::seconds(*response->min_expires) > config_.expires) {
      config_.expires = std::chrono::seconds(*response->min_expires);
      send_register();
      return;
    }
    if (status >= 300) {
      registration_failed_soft(
          Error{status >= 500 ? Errc::network : Errc::not_allowed,
                "the SIP server answered " + std::to_string(status) + " " + response->reason,
                {}});
      return;
    }
    // 2xx. RFC 3581: our address as the server sees it.
    const auto& via = response->vias.front();
    if (server_ && server_->transport == Transport::udp && config_.local_address.empty()) {
      std::string seen_host = via.received.empty() ? via.host : via.received;
      uint16_t seen_port = via.rport.value_or(0);
      bool changed = false;
      if (!via.received.empty() && is_ip_literal(via.received) &&
          via.received != (contact_host_.empty() ? local_ip_ : contact_host_)) {
        contact_host_ = via.received;
        changed = true;
      }
      if (seen_port != 0 && seen_port != (contact_port_ != 0 ? contact_port_ : local_port_)) {
        contact_port_ = seen_port;
        changed = true;
      }
      (void)seen_host;
      if (changed) {
        log::info(kLog, "our public address differs from the local one: registering it");
        send_register();
        return;
      }
    }
    int granted = static_cast<int>(config_.expires.count());
    bool found = false;
    for (const auto& c : response->contacts) {
      auto a = parse_uri(c.uri);
      auto b = parse_uri(contact);
      if (a && b && a->host == b->host && a->port == b->port && a->user == b->user) {
        if (c.expires) granted = *c.expires;
        found = true;
        break;
      }
    }
    if (!found && response->expires) granted = *response->expires;
    if (granted <= 0) granted = static_cast<int>(config_.expires.count());
    granted_ = std::chrono::seconds(granted);
    backoff_ = Millis{1000};
    set_reg_state(RegistrationState::registered);
    if (!reg_timer_) reg_timer_ = make_timer();
    after(reg_timer_, std::chrono::duration_cast<Millis>(granted_) / 2,
          [this] { send_register(); });
    schedule_keepalive();
  }

  void fail_registration(Error error) {
    log::info(kLog, "registration failed: " + error.message);
    if (reg_timer_) reg_timer_->cancel();
    if (keepalive_timer_) keepalive_timer_->cancel();
    set_reg_state(RegistrationState::failed, std::move(error));
  }

  void schedule_keepalive() {
    if (config_.keepalive.count() <= 0 || !server_) return;
    if (!keepalive_timer_) keepalive_timer_ = make_timer();
    after(keepalive_timer_, std::chrono::duration_cast<Millis>(config_.keepalive),
          [this] { keepalive(); });
  }

  void keepalive() {
    if (!running_ || stopping_ || !server_ || reg_state_ != RegistrationState::registered) return;
    if (server_->transport == Transport::udp) {
      if (!options_in_flight_) {
        options_in_flight_ = true;
        RequestSpec spec;
        spec.method = "OPTIONS";
        spec.request_uri = "sip:" + config_.domain;
        spec.from = name_addr({}, aor(), random_token());
        spec.to = name_addr({}, "sip:" + config_.domain);
        spec.call_id = random_token(20);
        start_tx(spec, *server_, new_branch(), [this](const Message* response) {
          if (response != nullptr && response->status < 200) return;
          options_in_flight_ = false;
          if (response == nullptr && reg_state_ == RegistrationState::registered) {
            log::info(kLog, "the SIP server stopped answering: registering again");
            set_reg_state(RegistrationState::retrying,
                          Error{Errc::timeout, "the SIP server stopped answering", {}});
            send_register();
          }
        });
      }
    } else if (server_stream_ && server_stream_->ready()) {
      server_stream_->write("\r\n\r\n");
      if (pong_seen_) {
        // RFC 5626 §4.4.1: a server that answered pings before must keep doing so.
        if (!pong_timer_) pong_timer_ = make_timer();
        std::weak_ptr<Stream> weak_stream = server_stream_;
        after(pong_timer_, std::chrono::duration_cast<Millis>(kPongTimeout), [this, weak_stream] {
          auto stream = weak_stream.lock();
          if (!stream || stream != server_stream_) return;
          log::info(kLog, "no pong from the SIP server: reconnecting");
          stream->close();
          std::erase(streams_, stream);
          on_server_stream_lost(Error{Errc::timeout, "the SIP server stopped answering", {}});
        });
      }
    }
    schedule_keepalive();
  }

  // --- calls: outgoing -----------------------------------------------------

  Result<CallHandle> invite(const std::string& to, const std::string& sdp) {
    if (!running_ || stopping_) return fail(Errc::not_connected, "the SIP account is not started");
    auto uri = normalize_uri(to, config_.domain);
    if (!uri) return tl::make_unexpected(uri.error());
    auto dest = dest_for_uri(*uri, true);
    if (!dest) return fail(Errc::not_connected, "the SIP server is not reachable yet");
    auto call = std::make_shared<Call>();
    call->handle = random_id();
    call->outgoing = true;
    call->state = CallState::calling;
    call->call_id = random_token(20);
    call->local_tag = random_token();
    call->local_display = config_.display_name;
    call->local_uri = aor();
    call->remote_uri = *uri;
    call->remote_target = *uri;
    call->local_cseq = 1;
    call->local_sdp = sdp;
    call->invite_dest = *dest;
    call->dest = *dest;
    call->invite.method = "INVITE";
    call->invite.request_uri = *uri;
    call->invite.from = name_addr(config_.display_name, aor(), call->local_tag);
    call->invite.to = name_addr({}, *uri);
    call->invite.call_id = call->call_id;
    call->invite.cseq = call->local_cseq;
    call->invite.contact = contact_for(*dest);
    call->invite.content_type = "application/sdp";
    call->invite.body = sdp;
    calls_[call->handle] = call;
    send_invite(call);
    return call->handle;
  }

  void send_invite(const std::shared_ptr<Call>& call) {
    call->invite_branch = new_branch();
    call->invite_pending = true;
    std::weak_ptr<Call> weak_call = call;
    auto tx = start_tx(call->invite, call->invite_dest, call->invite_branch,
                       [this, weak_call](const Message* response) {
                         auto call = weak_call.lock();
                         if (!call) return;
                         invite_response(call, response);
                       });
    tx->rings = true;
  }

  void invite_response(const std::shared_ptr<Call>& call, const Message* response) {
    if (response == nullptr) {
      call->invite_pending = false;
      end_call(call, EndReason::no_answer, 408, "the other side did not answer");
      forget_if_done(call);
      return;
    }
    int status = response->status;
    if (status < 200) {
      if (!call->ring_timer && call->state != CallState::ended) {
        // Like a proxy's Timer C: a call that rings for ever is given up.
        call->ring_timer = make_timer();
        std::weak_ptr<Call> weak_call = call;
        after(call->ring_timer, kRingingLimit, [this, weak_call] {
          auto call = weak_call.lock();
          if (!call || call->state == CallState::ended || !call->invite_pending) return;
          call->cancel_wanted = true;
          if (!call->cancel_sent) send_cancel(call);
          end_call(call, EndReason::no_answer, 0, "nobody answered");
          // If not even the CANCEL gets an answer, the transaction ends
          // after Timer B after all.
          if (auto it = client_txs_.find(call->invite_branch + "|INVITE");
              it != client_txs_.end()) {
            it->second->rings = false;
            arm_timeout(it->second);
          }
        });
      }
      if (status == 100) return;
      if (!response->to.tag.empty() && call->state == CallState::calling) {
        call->state = CallState::early;
        call->remote_tag = response->to.tag;
      }
      if (call->cancel_wanted && !call->cancel_sent) send_cancel(call);
      if (!call->ringing_reported && call->state != CallState::ended) {
        call->ringing_reported = true;
        auto handle = call->handle;
        emit([handle](Listener& l) { l.on_call_ringing(handle); });
      }
      return;
    }
    call->invite_pending = false;
    if (status < 300) {
      invite_ok(call, *response);
      return;
    }
    if ((status == 401 || status == 407) && call->state != CallState::ended &&
        call->auth_tries < 2) {
      if (auto header =
              authorize(*response, "INVITE", call->invite.request_uri, call->auth_tries > 0)) {
        call->auth_tries += 1;
        call->invite.cseq = ++call->local_cseq;
        std::erase_if(call->invite.headers, [](const std::string& h) {
          return h.rfind("Authorization:", 0) == 0 || h.rfind("Proxy-Authorization:", 0) == 0;
        });
        call->invite.headers.push_back(*header);
        call->cancel_sent = false;
        call->state = CallState::calling;
        call->remote_tag.clear();
        send_invite(call);
        return;
      }
    }
    if (call->state != CallState::ended)
      end_call(call, reason_for(status), status,
               status == 401 || status == 407 ? "the server refused our credentials" : "");
    forget_if_done(call);
  }

  void invite_ok(const std::shared_ptr<Call>& call, const Message& response) {
    call->remote_tag = response.to.tag;
    if (response.contact) call->remote_target = response.contact->uri;
    call->route_set.assign(response.record_routes.rbegin(), response.record_routes.rend());
    update_dest(call);
    send_ack(call, response.cseq);
    if (call->state == CallState::ended) {
      // Answered after we gave up (CANCEL crossed the 200): hang up.
      send_bye(call);
      forget_if_done(call);
      return;
    }
    call->state = CallState::confirmed;
    auto handle = call->handle;
    auto sdp = response.body;
    emit([handle, sdp](Listener& l) { l.on_call_connected(handle, sdp); });
  }

  void retransmitted_invite_ok(const Message& response) {
    auto call = find_by_call_id(response.call_id);
    if (!call || call->ack_bytes.empty() || call->ack_cseq != response.cseq) return;
    send_to(call->ack_dest, call->ack_bytes);
  }

  void update_dest(const std::shared_ptr<Call>& call) {
    std::string next =
        call->route_set.empty() ? call->remote_target : strip_brackets(call->route_set.front());
    if (auto dest = dest_for_uri(next, false)) {
      // Keep the transport we talk to this peer with unless the URI names one.
      call->dest = *dest;
    }
  }

  RequestSpec in_dialog(const std::shared_ptr<Call>& call, const std::string& method,
                        uint32_t cseq) {
    RequestSpec spec;
    spec.method = method;
    spec.request_uri = call->remote_target;
    spec.routes = call->route_set;
    spec.from = name_addr(call->local_display, call->local_uri, call->local_tag);
    spec.to = name_addr(call->remote_display, call->remote_uri, call->remote_tag);
    spec.call_id = call->call_id;
    spec.cseq = cseq;
    return spec;
  }

  void send_ack(const std::shared_ptr<Call>& call, uint32_t cseq) {
    auto spec = in_dialog(call, "ACK", cseq);
    call->ack_bytes = build_request(spec, call->dest, new_branch());
    call->ack_dest = call->dest;
    call->ack_cseq = cseq;
    send_to(call->dest, call->ack_bytes);
  }

  void send_cancel(const std::shared_ptr<Call>& call) {
    call->cancel_sent = true;
    RequestSpec spec;
    spec.method = "CANCEL";
    spec.request_uri = call->invite.request_uri;
    spec.routes = call->invite.routes;
    spec.from = call->invite.from;
    spec.to = call->invite.to;
    spec.call_id = call->call_id;
    spec.cseq = call->invite.cseq;
    // RFC 3261 §9.1: same branch as the INVITE.
    start_tx(spec, call->invite_dest, call->invite_branch, [](const Message*) {});
  }

  void send_bye(const std::shared_ptr<Call>& call) {
    auto spec = in_dialog(call, "BYE", ++call->local_cseq);
    start_tx(spec, call->dest, new_branch(), [](const Message*) {});
  }

  void forget_if_done(const std::shared_ptr<Call>& call) {
    if (call->state == CallState::ended && !call->invite_pending) {
      // Keep the ACK around a while for retransmitted 2xx.
      // Held by the call, not by its own handler: stop() and the
      // destructor cancel it, so an idle agent has nothing left pending.
      auto handle = call->handle;
      if (!call->linger_timer) call->linger_timer = make_timer();
      after(call->linger_timer, Millis{32000}, [this, handle] {
        auto it = calls_.find(handle);
        if (it != calls_.end() && it->second->state == CallState::ended) calls_.erase(it);
      });
    }
  }

  void end_call(const std::shared_ptr<Call>& call, EndReason reason, int status,
                std::string text = {}) {
    if (call->state == CallState::ended) return;
    call->state = CallState::ended;
    if (call->ok_timer) call->ok_timer->cancel();
    if (call->glare_timer) call->glare_timer->cancel();
    if (call->ring_timer) call->ring_timer->cancel();
    if (call->ended_reported) return;
    call->ended_reported = true;
    CallEnd end{reason, status, text.empty() ? text_for(reason, status) : std::move(text)};
    auto handle = call->handle;
    bool reinvite_pending = call->reinvite_pending;
    emit([handle, end, reinvite_pending](Listener& l) {
      if (reinvite_pending) l.on_reinvite_result(handle, fail(Errc::cancelled, "the call ended"));
      l.on_call_ended(handle, end);
    });
    call->reinvite_pending = false;
    if (!call->invite_pending) forget_if_done(call);
  }

  // --- calls: incoming -----------------------------------------------------

  void invite_received(const Message& request, const std::shared_ptr<ServerTx>& tx) {
    std::size_t ringing = 0;
    for (auto& [h, c] : calls_)
      if (!c->outgoing && (c->state == CallState::incoming || c->state == CallState::ringing))
        ++ringing;
    if (ringing >= kMaxRinging) {
      // Statelessly: no transaction, no retransmissions, nothing kept per
      // flooded INVITE (a retransmitted one just gets another 486).
      send_back(tx->source, response_text(request, 486, random_token()));
      server_txs_.erase(tx->key);
      auto now = Clock::now();
      if (now - last_flood_log_ > std::chrono::seconds(10)) {
        log::warn(kLog, "too many incoming calls ringing at once: answering busy" +
                            (flood_suppressed_ > 0
                                 ? " (" + std::to_string(flood_suppressed_) + " more before)"
                                 : std::string()));
        last_flood_log_ = now;
        flood_suppressed_ = 0;
      } else {
        ++flood_suppressed_;
      }
      return;
    }
    if (!request.body.empty() && !request.content_type.empty() &&
        request.content_type.find("application/sdp") == std::string::npos) {
      respond(tx, 415, response_text(request, 415, random_token(), {"Accept: application/sdp"}));
      return;
    }
    respond(tx, 100, response_text(request, 100));
    auto call = std::make_shared<Call>();
    call->handle = random_id();
    call->outgoing = false;
    call->state = CallState::incoming;
    call->call_id = request.call_id;
    call->local_tag = random_token();
    call->remote_tag = request.from.tag;
    call->local_display = config_.display_name;
    call->local_uri = request.to.uri;
    call->remote_display = request.from.display;
    call->remote_uri = request.from.uri;
    call->remote_cseq = request.cseq;
    call->remote_target = request.contact ? request.contact->uri : request.from.uri;
    call->route_set = request.record_routes;
    call->request = request;
    call->server_key = tx->key;
    call->offerless = request.body.empty();
    call->ok_source = tx->source;
    call->local_cseq = 1;
    // In-dialog requests go where the INVITE came from when the target is
    // not directly usable.
    call->dest = Dest{tx->source.transport, tx->source.address, tx->source.port, {}};
    if (!call->route_set.empty() ||
        is_ip_literal(parse_uri(call->remote_target).value_or(UriParts{}).host))
      update_dest(call);
    calls_[call->handle] = call;
    // A caller that never gives up (or vanished without a CANCEL) must not
    // ring here for ever, holding one of the kMaxRinging places.
    call->ring_timer = make_timer();
    std::weak_ptr<Call> weak_call = call;
    after(call->ring_timer, kRingingLimit, [this, weak_call] {
      auto call = weak_call.lock();
      if (!call || (call->state != CallState::incoming && call->state != CallState::ringing))
        return;
      if (auto tx = server_tx(call))
        respond(tx, 480, response_text(call->request, 480, call->local_tag));
      end_call(call, EndReason::no_answer, 480, "nobody answered");
    });
    auto handle = call->handle;
    auto from = request.from.uri;
    if (auto parts = parse_uri(from)) from = parts->scheme + ":" + parts->user + "@" + parts->host;
    auto name = request.from.display;
    auto sdp = request.body;
    emit([handle, from, name, sdp](Listener& l) { l.on_incoming_call(handle, from, name, sdp); });
  }

  std::shared_ptr<ServerTx> server_tx(const std::shared_ptr<Call>& call) {
    auto it = server_txs_.find(call->server_key);
    return it == server_txs_.end() ? nullptr : it->second;
  }

  std::vector<std::string> contact_header_for(const std::shared_ptr<Call>& call) {
    auto stream = call->ok_source.stream.lock();
    return {"Contact: <" + contact_uri(call->ok_source.transport, stream) + ">"};
  }

  Result<void> ring(const CallHandle& handle) {
    auto call = incoming_unanswered(handle);
    if (!call) return tl::make_unexpected(call.error());
    auto tx = server_tx(*call);
    if (!tx) return fail(Errc::not_found, "the call is gone");
    (*call)->state = CallState::ringing;
    respond(tx, 180,
            response_text((*call)->request, 180, (*call)->local_tag, contact_header_for(*call)));
    return {};
  }

  Result<std::shared_ptr<Call>> incoming_unanswered(const CallHandle& handle) {
    auto it = calls_.find(handle);
    if (it == calls_.end() || it->second->state == CallState::ended)
      return fail(Errc::not_found, "no such call");
    auto call = it->second;
    if (call->outgoing || (call->state != CallState::incoming && call->state != CallState::ringing))
      return fail(Errc::invalid_argument, "the call is not waiting for an answer");
    return call;
  }

  Result<void> answer(const CallHandle& handle, const std::string& sdp) {
    auto found = incoming_unanswered(handle);
    if (!found) return tl::make_unexpected(found.error());
    auto call = *found;
    auto tx = server_tx(call);
    if (!tx) return fail(Errc::not_found, "the call is gone");
    call->state = CallState::answered;
    call->local_sdp = sdp;
    auto headers = contact_header_for(call);
    headers.push_back("Allow: " + std::string(kAllow));
    call->ok_bytes =
        response_text(call->request, 200, call->local_tag, headers, "application/sdp", sdp);
    call->ok_cseq = call->request.cseq;
    call->ok_is_reinvite = false;
    tx->last_response = call->ok_bytes;
    tx->last_status = 200;
    tx->expires_at = Clock::now() + config_.transaction_timeout;
    send_ok(call);
    return {};
  }

  // Sends our 2xx and retransmits it (T1 doubling to T2, also on streams:
  // harmless, and it covers a proxy that loses it) until the ACK.
  void send_ok(const std::shared_ptr<Call>& call) {
    send_back(call->ok_source, call->ok_bytes);
    call->ok_interval = t1();
    call->ok_deadline = Clock::now() + config_.transaction_timeout;
    if (!call->ok_timer) call->ok_timer = make_timer();
    arm_ok(call);
  }

  void arm_ok(const std::shared_ptr<Call>& call) {
    std::weak_ptr<Call> weak_call = call;
    after(call->ok_timer, call->ok_interval, [this, weak_call] {
      auto call = weak_call.lock();
      if (!call || call->ok_bytes.empty()) return;
      if (Clock::now() >= call->ok_deadline) {
        // RFC 3261 §13.3.1.4: no ACK, so the session is not up: BYE.
        call->ok_bytes.clear();
        log::info(kLog, "no ACK for our 200 OK: ending the call");
        send_bye(call);
        end_call(call, EndReason::failed, 0, "the other side did not confirm the call");
        return;
      }
      if (call->ok_source.transport == Transport::udp) send_back(call->ok_source, call->ok_bytes);
      call->ok_interval = std::min(call->ok_interval * 2, t2());
      arm_ok(call);
    });
  }

  void ack_received(const Message& ack) {
    auto call = find_dialog(ack.call_id, ack.to.tag, ack.from.tag);
    if (!call || call->ok_bytes.empty() || ack.cseq != call->ok_cseq) return;
    call->ok_bytes.clear();
    if (call->ok_timer) call->ok_timer->cancel();
    if (call->ok_is_reinvite) return;
    if (call->state != CallState::answered) return;
    call->state = CallState::confirmed;
    auto handle = call->handle;
    std::string sdp = call->offerless ? ack.body : std::string();
    emit([handle, sdp](Listener& l) { l.on_call_connected(handle, sdp); });
  }

  Result<void> reject(const CallHandle& handle, int status) {
    if (status < 300 || status > 699) return fail(Errc::invalid_argument, "not an error status");
    auto found = incoming_unanswered(handle);
    if (!found) return tl::make_unexpected(found.error());
    auto call = *found;
    if (auto tx = server_tx(call))
      respond(tx, status, response_text(call->request, status, call->local_tag));
    end_call(call,
             status == 486 || status == 600   ? EndReason::busy
             : status == 488 || status == 606 ? EndReason::unacceptable
                                              : EndReason::declined,
             status);
    return {};
  }

  void cancel_received(const Message& cancel, const std::shared_ptr<ServerTx>& tx) {
    auto invite_key = cancel.vias.front().branch + "|INVITE";
    auto it = server_txs_.find(invite_key);
    if (it == server_txs_.end()) {
      respond(tx, 481, response_text(cancel, 481, random_token()));
      return;
    }
    respond(tx, 200, response_text(cancel, 200, random_token()));
    for (auto& [handle, call] : calls_) {
      if (call->outgoing || call->server_key != invite_key) continue;
      if (call->state == CallState::incoming || call->state == CallState::ringing) {
        respond(it->second, 487, response_text(call->request, 487, call->local_tag));
        end_call(call, EndReason::cancelled, 487);
      }
      break;
    }
  }

  // --- re-INVITE -----------------------------------------------------------

  void reinvite_received(const std::shared_ptr<Call>& call, const Message& request,
                         const std::shared_ptr<ServerTx>& tx) {
    if (call->state != CallState::confirmed) {
      respond(tx, 491, response_text(request, 491));
      return;
    }
    if (call->reinvite_in_flight || !call->ok_bytes.empty()) {
      respond(tx, 491, response_text(request, 491));  // glare (RFC 3261 §14.2)
      return;
    }
    if (request.contact) call->remote_target = request.contact->uri;
    auto answer = listener_->on_call_reoffer(call->handle, request.body);
    if (dead_) return;
    if (call->state != CallState::confirmed) {  // hung up from inside the callback
      respond(tx, 487, response_text(request, 487));
      return;
    }
    if (!answer) {
      int status = answer.error().code == Errc::not_supported ? 488 : 400;
      respond(tx, status, response_text(request, status));
      return;
    }
    call->local_sdp = *answer;
    call->request = request;
    call->ok_source = tx->source;
    auto headers = contact_header_for(call);
    call->ok_bytes = response_text(request, 200, {}, headers, "application/sdp", *answer);
    call->ok_cseq = request.cseq;
    call->ok_is_reinvite = true;
    tx->last_response = call->ok_bytes;
    tx->last_status = 200;
    tx->expires_at = Clock::now() + config_.transaction_timeout;
    send_ok(call);
  }

  Result<void> reinvite(const CallHandle& handle, const std::string& sdp) {
    auto it = calls_.find(handle);
    if (it == calls_.end() || it->second->state == CallState::ended)
      return fail(Errc::not_found, "no such call");
    auto call = it->second;
    if (call->state != CallState::confirmed)
      return fail(Errc::invalid_argument, "the call is not connected");
    if (call->reinvite_pending)
      return fail(Errc::invalid_argument, "a change of this call is already under way");
    call->reinvite_pending = true;
    call->reinvite_offer = sdp;
    send_reinvite(call, 0);
    return {};
  }

  void send_reinvite(const std::shared_ptr<Call>& call, int auth_tries,
                     std::optional<std::string> auth_header = std::nullopt) {
    auto spec = in_dialog(call, "INVITE", ++call->local_cseq);
    spec.contact = contact_for(call->dest);
    spec.content_type = "application/sdp";
    spec.body = call->reinvite_offer;
    if (auth_header) spec.headers.push_back(*auth_header);
    std::weak_ptr<Call> weak_call = call;
    auto uri = spec.request_uri;
    call->reinvite_in_flight = true;
    start_tx(spec, call->dest, new_branch(),
             [this, weak_call, auth_tries, uri](const Message* response) {
               auto call = weak_call.lock();
               if (!call) return;
               if (response != nullptr && response->status < 200) return;
               call->reinvite_in_flight = false;
               if (response != nullptr && response->status < 300 &&
                   (!call->reinvite_pending || call->state == CallState::ended)) {
                 send_ack(call, response->cseq);  // a 2xx is ACKed even when moot
                 return;
               }
               if (!call->reinvite_pending || call->state == CallState::ended) return;
               if (response == nullptr) {
                 call->reinvite_pending = false;
                 send_bye(call);
                 end_call(call, EndReason::failed, 408, "the other side stopped answering");
                 return;
               }
               int status = response->status;
               auto handle = call->handle;
               if (status < 300) {
                 if (response->contact) call->remote_target = response->contact->uri;
                 send_ack(call, response->cseq);
                 call->reinvite_pending = false;
                 call->local_sdp = call->reinvite_offer;
                 auto sdp = response->body;
                 emit([handle, sdp](Listener& l) { l.on_reinvite_result(handle, sdp); });
                 return;
               }
               if ((status == 401 || status == 407) && auth_tries < 2) {
                 if (auto header = authorize(*response, "INVITE", uri, auth_tries > 0)) {
                   send_reinvite(call, auth_tries + 1, header);
                   return;
                 }
               }
               if (status == 491) {
                 // RFC 3261 §14.1: the Call-ID's owner waits 2.1–4 s, the other 0–2 s.
                 int low = call->outgoing ? 2100 : 0;
                 int high = call->outgoing ? 4000 : 2000;
                 std::uniform_int_distribution<int> pick(low, high);
                 if (!call->glare_timer) call->glare_timer = make_timer();
                 std::weak_ptr<Call> again = call;
                 after(call->glare_timer, Millis{pick(rng_)}, [this, again] {
                   auto call = again.lock();
                   if (!call || !call->reinvite_pending || call->state != CallState::confirmed)
                     return;
                   send_reinvite(call, 0);
                 });
                 return;
               }
               call->reinvite_pending = false;
               if (status == 481 || status == 408) {
                 if (status == 408) send_bye(call);
                 end_call(call, EndReason::failed, status, "the call was lost");
                 return;
               }
               auto error =
                   fail(status == 488 || status == 606 ? Errc::not_supported : Errc::not_allowed,
                        "the other side refused the change: " + std::to_string(status) + " " +
                            response->reason);
               emit([handle, error](Listener& l) { l.on_reinvite_result(handle, error); });
             });
  }

  // --- hangup / stop -------------------------------------------------------

  Result<void> hangup(const CallHandle& handle) {
    auto it = calls_.find(handle);
    if (it == calls_.end() || it->second->state == CallState::ended)
      return fail(Errc::not_found, "no such call");
    auto call = it->second;
    switch (call->state) {
      case CallState::calling:
      case CallState::early:
        call->cancel_wanted = true;
        if (call->state == CallState::early || call->invite_dest.transport != Transport::udp ||
            client_has_provisional(call))
          send_cancel(call);
        end_call(call, EndReason::local_hangup, 0);
        break;
      case CallState::incoming:
      case CallState::ringing:
        if (auto tx = server_tx(call))
          respond(tx, 603, response_text(call->request, 603, call->local_tag));
        end_call(call, EndReason::local_hangup, 0);
        break;
      case CallState::answered:
      case CallState::confirmed:
        call->ok_bytes.clear();
        send_bye(call);
        end_call(call, EndReason::local_hangup, 0);
        break;
      case CallState::ended:
        break;
    }
    return {};
  }

  bool client_has_provisional(const std::shared_ptr<Call>& call) {
    auto it = client_txs_.find(call->invite_branch + "|INVITE");
    return it != client_txs_.end() && it->second->provisional;
  }

  void stop(std::function<void()> done, Millis timeout) {
    if (!running_) {
      if (done) asio::post(executor_, std::move(done));
      return;
    }
    stopping_ = true;
    stop_done_ = std::move(done);
    std::vector<CallHandle> handles;
    for (auto& [h, c] : calls_)
      if (c->state != CallState::ended) handles.push_back(h);
    for (const auto& h : handles) (void)hangup(h);
    if (reg_timer_) reg_timer_->cancel();
    if (keepalive_timer_) keepalive_timer_->cancel();
    if (pong_timer_) pong_timer_->cancel();
    stop_timer_ = make_timer();
    after(stop_timer_, timeout, [this] { finish_stop(); });
    if (reg_state_ == RegistrationState::registered ||
        (reg_state_ == RegistrationState::retrying && server_)) {
      reg_auth_fresh_ = false;
      send_register(true, [this] {
        // Let the last BYE/CANCEL leave before the sockets close.
        auto timer = make_timer();
        after(timer, Millis{1}, [this, timer] { finish_stop(); });
      });
    } else {
      auto timer = make_timer();
      after(timer, Millis{20}, [this, timer] { finish_stop(); });
    }
  }

  void finish_stop() {
    if (!stopping_) return;
    stopping_ = false;
    running_ = false;
    drop_everything_in_flight();
    server_.reset();
    targets_.clear();
    local_ip_.clear();
    contact_host_.clear();
    contact_port_ = 0;
    reg_in_flight_ = false;
    set_reg_state(RegistrationState::unregistered);
    if (auto done = std::move(stop_done_)) emit([done](Listener&) { done(); });
  }

  void shutdown() {
    dead_ = true;
    drop_everything_in_flight();
  }

  // Every timer cancelled (an idle loop must have nothing left pending),
  // transactions and calls forgotten, sockets closed.
  void drop_everything_in_flight() {
    for (const auto* timer : {&reg_timer_, &keepalive_timer_, &pong_timer_, &stop_timer_})
      if (*timer) (*timer)->cancel();
    for (auto& [key, tx] : client_txs_) {
      if (tx->retransmit) tx->retransmit->cancel();
      tx->timeout->cancel();
    }
    for (auto& [key, tx] : server_txs_)
      if (tx->retransmit) tx->retransmit->cancel();
    for (auto& [h, c] : calls_) {
      for (const auto* timer : {&c->ok_timer, &c->glare_timer, &c->linger_timer, &c->ring_timer})
        if (*timer) (*timer)->cancel();
    }
    client_txs_.clear();
    server_txs_.clear();
    calls_.clear();
    close_transports();
  }
};

// ---------------------------------------------------------------------------

UserAgent::UserAgent(asio::any_io_executor executor, AccountConfig config, Listener& listener)
    : impl_(std::make_shared<Impl>(executor, std::move(config), listener)) {}

UserAgent::~UserAgent() {
  if (impl_) impl_->shutdown();
}

void UserAgent::start() { impl_->start(); }

void UserAgent::stop(std::function<void()> done, Millis timeout) {
  impl_->stop(std::move(done), timeout);
}

void UserAgent::reconfigure(AccountConfig config) {
  if (impl_->running_ && impl_->reg_state_ != RegistrationState::failed) return;
  if (impl_->running_) {
    // Failed (a wrong password, a certificate to pin): start over with the
    // new settings, from new sockets and a new server lookup.
    impl_->stopping_ = true;
    impl_->stop_done_ = nullptr;
    impl_->finish_stop();
  }
  impl_->config_ = std::move(config);
}

RegistrationState UserAgent::registration() const { return impl_->reg_state_; }

std::string UserAgent::server_cert_sha256() const { return impl_->server_cert_; }

std::string UserAgent::local_address() const {
  if (!impl_->local_ip_.empty() && impl_->local_ip_ != "0.0.0.0") return impl_->local_ip_;
  return {};
}

uint16_t UserAgent::local_port() const { return impl_->local_port_; }

std::string UserAgent::address_of_record() const { return impl_->aor(); }

Result<CallHandle> UserAgent::invite(const std::string& to_uri, const std::string& sdp_offer) {
  return impl_->invite(to_uri, sdp_offer);
}

Result<void> UserAgent::ring(const CallHandle& call) { return impl_->ring(call); }

Result<void> UserAgent::answer(const CallHandle& call, const std::string& sdp) {
  return impl_->answer(call, sdp);
}

Result<void> UserAgent::reject(const CallHandle& call, int status) {
  return impl_->reject(call, status);
}

Result<void> UserAgent::hangup(const CallHandle& call) { return impl_->hangup(call); }

Result<void> UserAgent::reinvite(const CallHandle& call, const std::string& sdp_offer) {
  return impl_->reinvite(call, sdp_offer);
}

Result<std::string> UserAgent::send_message(const std::string& to_uri, const std::string& body,
                                            std::string id, const std::string& content_type) {
  return impl_->send_message(to_uri, body, std::move(id), content_type);
}

void UserAgent::set_traffic_observer(TrafficObserver observer) {
  impl_->observer_ = std::move(observer);
}

}  // namespace sotto::sip
