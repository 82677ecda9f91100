// sotto/xmpp: one XMPP account's connection, on the core thread.
//
// XmppClient owns everything about one account online: resolving the server
// (SRV, or a host override), TLS (STARTTLS or direct TLS, verified against the
// system CAs and the JID's domain, or a pinned SHA-256 fingerprint), SASL
// (SCRAM with channel binding where offered), resource binding, XEP-0198
// stream management with resumption, the outbox that owns each message until
// the server acknowledged it, reconnection with backoff, roster, presence,
// subscriptions, messages with receipts (XEP-0184), carbons (XEP-0280) and
// archive catch-up (XEP-0313) after a lost session.
//
// register_account() creates an account in-band (XEP-0077); change_password()
// changes it for a logged-in account.
//
// A TrafficObserver sees the stream's XML text (inside TLS) for an opt-in
// packet log; secrets are taken out before it sees them.
//
// All calls and callbacks happen on the thread that runs the io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "sotto/base/base.h"

namespace sotto::xmpp {

namespace testing {
class OfflineClient;
}

struct ServerSettings {
  std::string host;           // empty: look up SRV records of the JID's domain
  uint16_t port = 0;          // 0: 5222 (or 5223 with direct_tls)
  bool direct_tls = false;    // XEP-0368 TLS from the first byte (with a host override)
  std::string pinned_sha256;  // trust exactly this certificate (lowercase hex), if set
  Millis step_timeout{10000};
};

struct Credentials {
  Jid jid;  // bare
  std::string password;
  std::string resource;  // empty: "sotto." + random
};

enum class ConnectionState { offline, connecting, online, reconnecting, failed };
std::string_view to_string(ConnectionState state);

enum class Show { available, chat, away, xa, dnd, unavailable };
std::string_view to_string(Show show);
std::optional<Show> parse_show(std::string_view text);

struct Presence {
  Jid from;  // full JID of the contact's resource
  Show show = Show::available;
  std::string status;
  int priority = 0;
};

enum class Subscription { none, to, from, both };
std::string_view to_string(Subscription sub);

struct RosterItem {
  Jid jid;
  std::string name;
  std::vector<std::string> groups;
  Subscription subscription = Subscription::none;
  bool waiting_for_authorization = false;  // ask='subscribe': we asked, they have not answered
};

struct Message {
  std::string id;
  Jid from;
  Jid to;
  std::string body;
  std::chrono::system_clock::time_point time;
  bool outgoing = false;      // sent by this account (here or, via carbons, elsewhere)
  bool from_archive = false;  // fetched from the server's archive after a lost session
  bool carbon = false;        // copy of a message of another of our devices
  bool delayed = false;       // arrived late (offline storage, archive)
};

// What the stream wrote or read.
enum class Direction { send, receive };

// Stands in for the SASL exchange (it carries the password, or proofs of it).
inline constexpr std::string_view kAuthenticationNotLogged =
    "<!-- authentication exchange not logged -->";
// Stands in for the text of a <password/> element (XEP-0077).
inline constexpr std::string_view kPasswordRedacted = "[redacted]";

// Called once per write and once per read of the stream with the XML text,
// as written or as read (a read may end or begin in the middle of an
// element). While the SASL exchange runs, the text is
// kAuthenticationNotLogged; the text of every <password/> element is
// kPasswordRedacted. Nothing of this is formatted while no observer is set.
using TrafficObserver = std::function<void(Direction, std::string_view)>;

class ClientListener {
 public:
  virtual ~ClientListener() = default;
  virtual void on_state(ConnectionState state, const std::optional<Error>& error) = 0;
  virtual void on_roster(const std::vector<RosterItem>& full_roster) = 0;
  virtual void on_roster_item(const RosterItem& item) = 0;
  virtual void on_roster_removed(const Jid& jid) = 0;
  virtual void on_presence(const Presence& presence) = 0;
  virtual void on_subscription_request(const Jid& from, const std::string& nick) = 0;
  // The contact refused, or withdrew, our subscription.
  virtual void on_subscription_denied(const Jid& from) = 0;
  virtual void on_message(const Message& message) = 0;
  // The server stored our message (XEP-0198 ack).
  virtual void on_message_sent(const Jid& to, const std::string& id) = 0;
  // The contact's client received it (XEP-0184).
  virtual void on_message_delivered(const Jid& from, const std::string& id) = 0;
  // An error reply to one of our messages.
  virtual void on_message_error(const Jid& to, const std::string& id, const Error& error) = 0;
};

class Client {
 public:
  Client(asio::any_io_executor executor, Credentials credentials, ServerSettings server,
         ClientListener& listener);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Goes online and stays online (reconnecting with backoff after a loss)
  // until disconnect(). Authentication and certificate errors stop it.
  void connect(Show show = Show::available, std::string status = {});
  void disconnect();
  // While not connected: settings (a new pin, say) and password for the next
  // connect(). Messages still queued or unacknowledged are kept.
  void reconfigure(ServerSettings server, std::string password);

  ConnectionState state() const;
  const Jid& bound_jid() const;  // full JID once online
  const Jid& jid() const;        // the account's bare JID
  // The fingerprint of the server certificate of the last TLS session.
  const std::string& server_cert_sha256() const;

  // Queues a chat message; it is written at once when online and kept until the
  // server acknowledges it, across reconnects. Returns its id: `id` when given
  // (the caller keeps ids unique), else a fresh random one.
  std::string send_message(const Jid& to, std::string body, std::string id = {});
  std::size_t unacknowledged_messages() const;

  void set_presence(Show show, std::string status);

  const std::vector<RosterItem>& roster() const;
  const RosterItem* roster_item(const Jid& bare) const;
  // Adds (or updates) a contact and asks for their presence.
  void add_contact(const Jid& jid, std::string name, std::vector<std::string> groups,
                   std::function<void(Result<void>)> done);
  void update_contact(const Jid& jid, std::string name, std::vector<std::string> groups,
                      std::function<void(Result<void>)> done);
  void remove_contact(const Jid& jid, std::function<void(Result<void>)> done);
  void authorize(const Jid& jid);  // also asks for theirs if we have none
  void deny(const Jid& jid);
  std::vector<Jid> pending_requests() const;

  void change_password(std::string new_password, std::function<void(Result<void>)> done);

  // Current presences of a contact's resources.
  std::vector<Presence> presences(const Jid& bare) const;

  // Sees the stream's traffic from now on, on this connection and the next
  // ones (see TrafficObserver); an empty function stops it.
  void set_traffic_observer(TrafficObserver observer);

 private:
  friend class testing::OfflineClient;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Creates an account on the JID's server (XEP-0077) and closes the stream.
// Errors: Errc::conflict "the name is taken", Errc::not_supported when the
// server does not allow it, Errc::not_allowed / invalid_argument for refusals.
// `observer`, if set, sees the exchange (the password redacted).
void register_account(asio::any_io_executor executor, Credentials credentials,
                      ServerSettings server, std::function<void(Result<void>)> done,
                      TrafficObserver observer = {});

}  // namespace sotto::xmpp
