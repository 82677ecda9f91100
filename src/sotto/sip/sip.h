// sotto/sip: one SIP account's user agent, on the core thread.
//
// UserAgent owns everything about one SIP account: where to send (RFC 3263:
// NAPTR, SRV, A; or an outbound proxy), transports (UDP, TCP, TLS on asio;
// TLS verified against the system CAs and the domain, or a pinned SHA-256
// fingerprint), rport (RFC 3581), NAT keep-alives (CRLF on TCP/TLS, OPTIONS
// on UDP), REGISTER with digest authentication (MD5 and SHA-256, qop=auth)
// refreshed before expiry and retried with backoff, INVITE dialogs (RFC 3261:
// 100/180/200/ACK, CANCEL, BYE, re-INVITE, timeouts) and MESSAGE (RFC 3428).
//
// libosip2 parses and builds messages and runs the transaction state
// machines; it does no I/O: our transports feed it and its send callback
// writes to them. Bad input from the network is answered with a 4xx or
// dropped with a log line, and never stops the agent from answering that
// peer afterwards.
//
// SDP is carried as opaque text (sotto/sdp reads and writes it in sotto/app).
//
// All calls and callbacks happen on the thread that runs the io_context. No
// callback is made after the UserAgent is destroyed, and none from inside a
// call into it (events are posted), so a listener may call back in freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>

#include "sotto/base/base.h"

namespace sotto::sip {

enum class Transport { udp, tcp, tls };
std::string_view to_string(Transport transport);
std::optional<Transport> parse_transport(std::string_view text);

struct AccountConfig {
  std::string user;       // the address-of-record's user part
  std::string domain;     // its host part: sip:<user>@<domain>
  std::string auth_user;  // digest user name; empty: `user`
  std::string password;
  std::string display_name;
  Transport transport = Transport::udp;
  // Outbound proxy; empty: RFC 3263 lookups on `domain` (NAPTR, SRV, then A
  // on port 5060/5061). IP literals, "localhost" and ".invalid" names are
  // used as they are, without DNS.
  std::string proxy_host;
  uint16_t proxy_port = 0;    // 0: from SRV, else 5060 (5061 for TLS)
  std::string pinned_sha256;  // TLS: trust exactly this certificate (lowercase hex)
  std::chrono::seconds expires{600};
  std::chrono::seconds keepalive{25};
  // Local interface to bind; empty: chosen by the OS (tests pass 127.0.0.1).
  std::string local_address;
  Millis transaction_timeout{32000};  // Timer B/F (64*T1)
  std::string user_agent = "Sotto";
};

enum class RegistrationState {
  unregistered,  // not started, or stopped
  registering,   // REGISTER sent, waiting for the answer
  registered,
  retrying,  // lost or refused for a reason that may pass; retried with backoff
  failed,    // wrong password, or a certificate to confirm: start() again
};
std::string_view to_string(RegistrationState state);

// Handle of one call (random, unique in the process).
using CallHandle = std::string;

enum class EndReason {
  local_hangup,   // we sent BYE (or CANCEL)
  remote_hangup,  // they sent BYE
  cancelled,      // the caller gave up before it was answered (CANCEL came in)
  busy,           // 486 / 600
  declined,       // 603 (or we rejected)
  no_answer,      // 408 / 480 / our own ringing timeout
  not_found,      // 404 / 484 / 604
  unacceptable,   // 488 / 606: no media in common
  failed,         // anything else: transport, timeouts, 5xx, auth
};
std::string_view to_string(EndReason reason);

struct CallEnd {
  EndReason reason = EndReason::failed;
  int status = 0;    // the SIP status that ended it, if any
  std::string text;  // for people: "busy", "the server did not answer", ...
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual void on_registration(RegistrationState state, const std::optional<Error>& error) = 0;

  // An INVITE for us. 100 Trying is already sent; call ring(), answer() or
  // reject(). `sdp_offer` is empty for an INVITE without an offer (then
  // answer() carries our offer and the answer comes with the ACK).
  virtual void on_incoming_call(const CallHandle& call, const std::string& from_uri,
                                const std::string& from_name, const std::string& sdp_offer) = 0;
  // Our INVITE: the other side is ringing (180 or 183).
  virtual void on_call_ringing(const CallHandle& call) = 0;
  // The call is up: for our INVITE, a 2xx arrived (ACK sent) and
  // `remote_sdp` is the answer; for an incoming call, the ACK for our 2xx
  // arrived, with `remote_sdp` empty unless the INVITE had no offer.
  virtual void on_call_connected(const CallHandle& call, const std::string& remote_sdp) = 0;
  // The peer sent a re-INVITE (hold, resume, a new address): return our SDP
  // answer, or an error to refuse it (488 for Errc::not_supported, 400 for
  // Errc::protocol); the call goes on unchanged then.
  virtual Result<std::string> on_call_reoffer(const CallHandle& call,
                                              const std::string& sdp_offer) = 0;
  // Our re-INVITE finished: the peer's answer, or why it failed (the call
  // goes on as before; a 481/408 ends the call instead, with on_call_ended).
  virtual void on_reinvite_result(const CallHandle& call,
                                  const Result<std::string>& sdp_answer) = 0;
  virtual void on_call_ended(const CallHandle& call, const CallEnd& end) = 0;

  // A MESSAGE for us (already answered 200). `from_uri` is the From URI
  // without parameters ("sip:bob@example.org").
  virtual void on_message(const std::string& from_uri, const std::string& body,
                          const std::string& content_type) = 0;
  // One of our MESSAGEs got its final answer: ok for 2xx.
  virtual void on_message_result(const std::string& id, const std::string& to_uri,
                                 const Result<void>& result) = 0;
};

// What the agent wrote or read, for the opt-in packet log: each SIP message
// as text, with Authorization and Proxy-Authorization values replaced.
using TrafficObserver = std::function<void(bool outgoing, std::string_view text)>;

class UserAgent {
 public:
  UserAgent(asio::any_io_executor executor, AccountConfig config, Listener& listener);
  ~UserAgent();  // sends nothing more; no callbacks after this
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  // Registers and stays registered until stop(): refreshes at about half the
  // granted expiry, retries with backoff (1 s doubling to 5 min) after a loss
  // or a server error, re-registers at once when the transport comes back.
  // A 401/403 after our credentials (wrong password) and an untrusted
  // certificate (Errc::certificate, detail = SHA-256) end in `failed`.
  void start();
  // Ends every call (BYE/CANCEL), unregisters (Expires: 0), closes the
  // transports, then calls done() (at the latest after `timeout`).
  void stop(std::function<void()> done, Millis timeout = Millis{2000});
  // While stopped: new settings (a new pin, say) for the next start().
  void reconfigure(AccountConfig config);
  RegistrationState registration() const;
  // SHA-256 (lowercase hex) of the TLS server certificate last seen.
  std::string server_cert_sha256() const;
  // The local IP our signalling uses towards the server, for SDP (known once
  // a transport is up: after the first registration attempt started).
  std::string local_address() const;
  // "sip:<user>@<domain>".
  std::string address_of_record() const;
  // The UDP port our signalling is bound to (TCP/TLS listen there too);
  // 0 before start().
  uint16_t local_port() const;

  // Calls `to_uri` ("sip:bob@example.org"; "bob@example.org" and "bob"
  // (on our domain) are accepted too) with `sdp_offer`. Needs start().
  [[nodiscard]] Result<CallHandle> invite(const std::string& to_uri, const std::string& sdp_offer);
  // Incoming call: 180 Ringing.
  [[nodiscard]] Result<void> ring(const CallHandle& call);
  // Incoming call: 200 OK with `sdp` (retransmitted until the ACK comes).
  [[nodiscard]] Result<void> answer(const CallHandle& call, const std::string& sdp);
  // Incoming call not yet answered: 486 (busy), 603 (decline), 488, ...
  [[nodiscard]] Result<void> reject(const CallHandle& call, int status);
  // CANCEL before the answer, BYE after; ends with EndReason::local_hangup.
  // An incoming call not yet answered is declined (603).
  [[nodiscard]] Result<void> hangup(const CallHandle& call);
  // A re-INVITE with a new offer (hold: sendonly; resume: sendrecv).
  [[nodiscard]] Result<void> reinvite(const CallHandle& call, const std::string& sdp_offer);

  // RFC 3428 MESSAGE; the answer comes through on_message_result. Returns
  // the message id (`id` when given).
  [[nodiscard]] Result<std::string> send_message(
      const std::string& to_uri, const std::string& body, std::string id = {},
      const std::string& content_type = "text/plain;charset=UTF-8");

  void set_traffic_observer(TrafficObserver observer);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "sip:bob@example.org" for "bob@example.org", "sip:bob@example.org",
// "<sip:bob@example.org>" or "bob" (with `domain`); Errc::invalid_argument
// otherwise. sips: is kept.
[[nodiscard]] Result<std::string> normalize_uri(std::string_view text, std::string_view domain);

}  // namespace sotto::sip
