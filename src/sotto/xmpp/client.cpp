#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_set>

#include "sotto/xmpp/connection.h"
#include "sotto/xmpp/session.h"
#include "sotto/xmpp/stanza.h"
#include "sotto/xmpp/testing.h"
#include "sotto/xmpp/xmpp.h"

namespace sotto::xmpp {
namespace {

constexpr std::string_view kLog = "xmpp.client";
constexpr std::size_t kDedupWindow = 20000;
constexpr auto kIqTimeout = std::chrono::seconds(30);
constexpr auto kIdleProbe = std::chrono::seconds(60);

std::optional<Subscription> parse_subscription(std::string_view text) {
  if (text.empty() || text == "none") return Subscription::none;
  if (text == "to") return Subscription::to;
  if (text == "from") return Subscription::from;
  if (text == "both") return Subscription::both;
  return std::nullopt;
}

// RFC 3339 / XEP-0082 "2024-01-02T03:04:05(.sss)Z" or with an offset.
std::optional<std::chrono::system_clock::time_point> parse_stamp(std::string_view text) {
  int y, mo, d, h, mi, s;
  if (text.size() < 19 || std::sscanf(std::string(text).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo,
                                      &d, &h, &mi, &s) != 6)
    return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                  std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  auto tp = std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
            std::chrono::seconds(s);
  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-') && text.size() >= pos + 6) {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(text.substr(pos + 1)).c_str(), "%2d:%2d", &oh, &om) == 2) {
      auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
      tp = text[pos] == '+' ? tp - offset : tp + offset;
    }
  }
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(tp);
}

}  // namespace

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::offline:
      return "offline";
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::online:
      return "online";
    case ConnectionState::reconnecting:
      return "reconnecting";
    case ConnectionState::failed:
      return "failed";
  }
  return "?";
}

std::string_view to_string(Show show) {
  switch (show) {
    case Show::available:
      return "available";
    case Show::chat:
      return "chat";
    case Show::away:
      return "away";
    case Show::xa:
      return "xa";
    case Show::dnd:
      return "dnd";
    case Show::unavailable:
      return "offline";
  }
  return "?";
}

std::optional<Show> parse_show(std::string_view text) {
  if (text == "available" || text == "online") return Show::available;
  if (text == "chat") return Show::chat;
  if (text == "away") return Show::away;
  if (text == "xa" || text == "extended-away") return Show::xa;
  if (text == "dnd" || text == "busy") return Show::dnd;
  if (text == "offline" || text == "unavailable") return Show::unavailable;
  return std::nullopt;
}

std::string_view to_string(Subscription sub) {
  switch (sub) {
    case Subscription::none:
      return "none";
    case Subscription::to:
      return "to";
    case Subscription::from:
      return "from";
    case Subscription::both:
      return "both";
  }
  return "?";
}

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  struct PendingIq {
    std::string to;  // whom we asked; the answer must come from there
    std::function<void(Result<Element>)> done;
    std::unique_ptr<asio::steady_timer> timer;
  };
  struct Outgoing {
    std::string id;
    Jid to;
    std::string body;
  };

  asio::any_io_executor executor;
  Credentials credentials;
  ServerSettings server;
  ClientListener& listener;

  ConnectionState state = ConnectionState::offline;
  bool want_online = false;
  bool ever_online = false;       // since this Client exists: archive catch-up on return
  bool online_this_time = false;  // since connect(): later losses are retried
  bool offline_test = false;      // testing::OfflineClient: never touch the network
  Show show = Show::available;
  std::string status;

  std::shared_ptr<Connection> connection;
  uint64_t connection_generation = 0;
  std::unique_ptr<Session> session;
  StreamManagement sm;
  // Ids of our messages whose recipient's receipt overtook the server's
  // acknowledgement: they were reported delivered, and "sent" would be a
  // step back when the acknowledgement comes.
  std::set<std::string> delivered_before_ack;
  Jid bound;
  std::string cert_sha256;

  asio::steady_timer reconnect_timer;
  asio::steady_timer login_deadline;
  asio::steady_timer idle_timer;
  int attempt = 0;
  TimePoint last_rx{};
  bool probe_outstanding = false;
  bool ack_scheduled = false;

  std::deque<Outgoing> outbox;  // accepted by send_message(), not yet written
  std::map<std::string, PendingIq> iqs;
  std::vector<RosterItem> roster;
  std::set<Jid> requests;
  std::map<Jid, std::map<std::string, Presence>> presence;
  std::unordered_set<std::string> seen;
  std::deque<std::string> seen_order;
  std::string last_archive_id;
  bool catching_up = false;
  std::string live_archive_id;        // newest live stanza-id seen during a catch-up
  std::set<std::string> mam_queries;  // queryids of our archive queries in flight
  TrafficObserver traffic;            // given to each session

  Impl(asio::any_io_executor ex, Credentials creds, ServerSettings settings, ClientListener& l)
      : executor(ex),
        credentials(std::move(creds)),
        server(std::move(settings)),
        listener(l),
        reconnect_timer(ex),
        login_deadline(ex),
        idle_timer(ex) {
    if (credentials.resource.empty()) credentials.resource = "sotto." + random_id(8);
    credentials.jid = credentials.jid.bare();
  }

  ~Impl() { secure_wipe(credentials.password); }

  void set_state(ConnectionState next, const std::optional<Error>& error = std::nullopt) {
    if (state == next && !error) return;
    state = next;
    listener.on_state(next, error);
  }

  // --- connection lifecycle -------------------------------------------------

  void connect() {
    if (session) return;
    set_state(online_this_time ? ConnectionState::reconnecting : ConnectionState::connecting);
    std::weak_ptr<Impl> weak = shared_from_this();
    // A connection still closing after disconnect() must not reach a newer
    // session: each handler acts only while its connection is the current one.
    const uint64_t generation = ++connection_generation;
    auto current = [weak, generation]() -> std::shared_ptr<Impl> {
      auto self = weak.lock();
      return self && self->connection_generation == generation && self->connection ? self : nullptr;
    };
    Connection::Handler handler{
        [current] {
          if (auto self = current()) self->on_connected();
        },
        [current](std::string_view bytes) {
          if (auto self = current()) self->on_data(bytes);
        },
        [current] {
          if (auto self = current()) self->on_tls_ready();
        },
        [current](Error error) {
          if (auto self = current()) self->on_connection_lost(std::move(error));
        },
    };
    connection = std::make_shared<Connection>(executor, credentials.jid.domain(), server,
                                              std::move(handler));
    Session::Io io{
        [weak](std::string bytes) {
          if (auto self = weak.lock(); self && self->connection)
            self->connection->write(std::move(bytes));
        },
        [weak] {
          if (auto self = weak.lock(); self && self->connection) self->connection->start_tls();
        },
        [weak] {
          auto self = weak.lock();
          return self && self->connection && self->connection->tls_active();
        },
        [weak] {
          auto self = weak.lock();
          return self && self->connection ? self->connection->channel_binding_type()
                                          : ChannelBindingType::none;
        },
        [weak] {
          auto self = weak.lock();
          return self && self->connection ? self->connection->channel_binding_data()
                                          : std::string();
        },
    };
    make_session(std::move(io));
    connection->start();
  }

  void make_session(Session::Io io) {
    std::weak_ptr<Impl> weak = shared_from_this();
    SessionConfig config;
    config.jid = credentials.jid;
    config.password = credentials.password;
    config.resource = credentials.resource;
    Session::Events events{
        [weak](const Jid& jid, bool resumed, std::vector<SentStanza> lost) {
          if (auto self = weak.lock()) self->on_online(jid, resumed, std::move(lost));
        },
        [weak](Element stanza) {
          if (auto self = weak.lock()) self->on_stanza(std::move(stanza));
        },
        [weak](std::vector<SentStanza> acked) {
          if (auto self = weak.lock()) self->on_acked(std::move(acked));
        },
        [weak](Error error) {
          if (auto self = weak.lock()) self->on_connection_lost(std::move(error));
        },
        nullptr,
    };
    session = std::make_unique<Session>(std::move(config), sm, std::move(io), std::move(events));
    if (traffic) session->set_traffic_observer(traffic);
  }

  void arm_login_deadline() {
    login_deadline.expires_after(server.step_timeout);
    std::weak_ptr<Impl> weak = shared_from_this();
    login_deadline.async_wait([weak](std::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->session || self->session->online()) return;
      self->on_connection_lost(Error{
          Errc::timeout,
          "the server stopped answering while " + std::string(to_string(self->session->phase())),
          {}});
    });
  }

  void on_connected() {
    if (!connection || !session) return;
    cert_sha256 = connection->peer_cert_sha256();
    arm_login_deadline();
    session->start();
  }

  void on_tls_ready() {
    if (!connection || !session) return;
    cert_sha256 = connection->peer_cert_sha256();
    arm_login_deadline();
    session->on_tls_ready();
  }

  void on_data(std::string_view bytes) {
    last_rx = Clock::now();
    probe_outstanding = false;
    if (session) session->on_data(bytes);
  }

  // keep_presence: the session may be resumed, and a resumed session gets no
  // presence again, so what we know stays until resumption fails.
  void teardown(bool keep_presence = false) {
    login_deadline.cancel();
    idle_timer.cancel();
    if (connection) connection->abort();
    // Defer destruction: we may be inside one of their callbacks.
    asio::post(executor, [c = std::move(connection), s = std::move(session)]() mutable {
      s.reset();
      c.reset();
    });
    connection.reset();
    session.reset();
    bound = Jid();
    auto pending = std::move(iqs);
    iqs.clear();
    for (auto& [id, iq] : pending) {
      if (iq.timer) iq.timer->cancel();
      iq.done(fail(Errc::not_connected, "the connection was lost before the server answered"));
    }
    if (!keep_presence) forget_presence();
  }

  void forget_presence() {
    auto known = std::move(presence);
    presence.clear();
    for (auto& [contact, resources] : known) {
      for (auto& [resource, p] : resources) {
        Presence gone = p;
        gone.show = Show::unavailable;
        gone.status.clear();
        listener.on_presence(gone);
      }
    }
  }

  void on_connection_lost(Error error) {
    if (!session) return;
    log::info(kLog, credentials.jid.bare_str() + ": " + error.message);
    teardown(/*keep_presence=*/sm.resumable());
    const bool fatal = error.code == Errc::auth || error.code == Errc::certificate ||
                       error.code == Errc::conflict || error.code == Errc::not_allowed ||
                       (error.code == Errc::tls && !online_this_time);
    if (!want_online || fatal || !online_this_time || offline_test) {
      want_online = false;
      set_state(ConnectionState::failed, error);
      return;
    }
    set_state(ConnectionState::reconnecting, error);
    schedule_reconnect();
  }

  void schedule_reconnect() {
    // Exponential backoff from 0.5 s to 60 s, with ±25% jitter so that many
    // clients do not return to a restarted server at the same instant.
    double base = std::min(60.0, 0.5 * std::pow(2.0, std::min(attempt, 8)));
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    static thread_local std::mt19937 rng{std::random_device{}()};
    auto delay = std::chrono::milliseconds(static_cast<int64_t>(base * jitter(rng) * 1000));
    ++attempt;
    reconnect_timer.expires_after(delay);
    std::weak_ptr<Impl> weak = shared_from_this();
    reconnect_timer.async_wait([weak](std::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->want_online) return;
      self->connect();
    });
  }

  void disconnect() {
    want_online = false;
    reconnect_timer.cancel();
    if (session && session->online()) {
      Element unavailable("presence", std::string(ns::client));
      unavailable.set_attr("type", "unavailable");
      session->send(unavailable);
      session->close();  // keeps unacked messages for the next session
      // The closing connection flushes </stream:stream> on its own (with a
      // deadline) and then lets go; nothing of it reaches us any more.
      connection->close();
      connection.reset();
    } else {
      // Connecting, or waiting to reconnect: nothing to say goodbye to;
      // unacked messages wait for the next session.
      sm.reset_keeping_messages();
    }
    teardown();
    set_state(ConnectionState::offline);
  }

  // --- online ------------------------------------------------------------

  void on_online(const Jid& jid, bool resumed, std::vector<SentStanza> lost) {
    login_deadline.cancel();
    bound = jid;
    attempt = 0;
    const bool reconnect = ever_online;
    ever_online = true;
    online_this_time = true;
    last_rx = Clock::now();
    arm_idle_probe();
    if (!resumed) {
      forget_presence();  // kept for a resumption that did not happen
      request_roster();
      enable_carbons();
      send_presence();
      for (SentStanza& stanza : lost) {
        if (stanza.message_id.empty()) continue;  // presence and iqs are redone fresh
        resend(stanza);
      }
      if (reconnect) catch_up_from_archive();
    }
    set_state(ConnectionState::online);
    flush_outbox();
  }

  void resend(SentStanza& stanza) {
    auto element = parse_element(stanza.xml, ns::client);
    if (!element || !session) return;
    remember(credentials.jid, stanza.message_id);
    session->send(*element, stanza.message_id);
    if (!session->sm_enabled()) listener.on_message_sent(stanza.to, stanza.message_id);
    schedule_ack_request();
  }

  void arm_idle_probe() {
    idle_timer.expires_after(kIdleProbe);
    std::weak_ptr<Impl> weak = shared_from_this();
    idle_timer.async_wait([weak](std::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->session || !self->session->online()) return;
      if (Clock::now() - self->last_rx < kIdleProbe) {
        self->arm_idle_probe();
        return;
      }
      if (self->probe_outstanding) {
        self->on_connection_lost(Error{Errc::timeout, "the server stopped answering", {}});
        return;
      }
      // Nothing heard for a minute: ask, and give up on the next tick.
      self->probe_outstanding = true;
      if (self->session->sm_enabled()) {
        self->session->request_ack();
      } else {
        self->send_iq(make_iq("get", "ping-" + random_id(8), self->credentials.jid.domain()),
                      [](Result<Element>) {});
      }
      self->arm_idle_probe();
    });
  }

  void flush_outbox() {
    // A listener may disconnect from inside on_message_sent: check each time.
    while (!outbox.empty() && session && session->online()) {
      Outgoing message = std::move(outbox.front());
      outbox.pop_front();
      // Our own message may come back from the archive after a reconnect.
      remember(credentials.jid, message.id);
      Element stanza("message", std::string(ns::client));
      stanza.set_attr("to", message.to.str());
      stanza.set_attr("type", "chat");
      stanza.set_attr("id", message.id);
      stanza.add_child("body", std::string(ns::client)).add_text(message.body);
      stanza.add_child("request", std::string(ns::receipts));
      stanza.add_child("origin-id", std::string(ns::stanza_id)).set_attr("id", message.id);
      if (message.body.starts_with("?OTR")) {
        // XEP-0364: OTR data is for the one device holding the session: no
        // carbon copies to our other devices. (It stays archivable: after a
        // lost stream the contact catches up on it from the archive; it is
        // ciphertext the server saw anyway.)
        stanza.add_child("private", std::string(ns::carbons));
        stanza.add_child("no-copy", std::string(ns::hints));
      }
      session->send(stanza, message.id);
      if (!session->sm_enabled()) listener.on_message_sent(message.to, message.id);
    }
    if (session) schedule_ack_request();
  }

  void schedule_ack_request() {
    if (ack_scheduled) return;
    ack_scheduled = true;
    std::weak_ptr<Impl> weak = shared_from_this();
    // One <r/> after a burst rather than one per message.
    asio::post(executor, [weak] {
      auto self = weak.lock();
      if (!self) return;
      self->ack_scheduled = false;
      if (self->session) self->session->request_ack();
    });
  }

  void on_acked(std::vector<SentStanza> acked) {
    for (const SentStanza& stanza : acked) {
      if (stanza.message_id.empty() || delivered_before_ack.erase(stanza.message_id) > 0) continue;
      listener.on_message_sent(stanza.to, stanza.message_id);
    }
  }

  std::size_t unacked_messages() const {
    std::size_t count = outbox.size();
    for (const SentStanza& stanza : sm.unacked_stanzas()) {
      if (!stanza.message_id.empty()) ++count;
    }
    return count;
  }

  void send_presence() {
    if (!session || !session->online()) return;
    Element p("presence", std::string(ns::client));
    if (show != Show::available && show != Show::unavailable) {
      p.add_child("show", std::string(ns::client)).add_text(std::string(to_string(show)));
    }
    if (!status.empty()) p.add_child("status", std::string(ns::client)).add_text(status);
    session->send(p);
  }

  void enable_carbons() {
    Element iq = make_iq("set", "carbons-" + random_id(8));
    iq.add_child("enable", std::string(ns::carbons));
    send_iq(std::move(iq), [](Result<Element> result) {
      if (!result) log::info(kLog, "carbons unavailable: " + result.error().message);
    });
  }

  // --- iq ------------------------------------------------------------------

  void send_iq(Element iq, std::function<void(Result<Element>)> done) {
    if (!session || !session->online()) {
      done(fail(Errc::not_connected, "the account is offline"));
      return;
    }
    std::string id = iq.attr_or("id");
    PendingIq pending{iq.attr_or("to"), std::move(done),
                      std::make_unique<asio::steady_timer>(executor)};
    pending.timer->expires_after(kIqTimeout);
    std::weak_ptr<Impl> weak = shared_from_this();
    pending.timer->async_wait([weak, id](std::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      auto it = self->iqs.find(id);
      if (it == self->iqs.end()) return;
      auto callback = std::move(it->second.done);
      self->iqs.erase(it);
      callback(fail(Errc::timeout, "the server did not answer in time"));
    });
    iqs.emplace(id, std::move(pending));
    session->send(iq);
  }

  bool from_own_account(std::string_view from) const {
    if (from.empty()) return true;
    auto jid = Jid::parse(from);
    return jid && (jid->bare() == credentials.jid.bare() || *jid == bound);
  }

  bool answer_from_expected(const std::string& asked, std::string_view from) const {
    if (asked.empty() || asked == credentials.jid.bare_str()) return from_own_account(from);
    auto a = Jid::parse(asked);
    auto f = Jid::parse(from);
    return a && f && *a == *f;
  }

  void on_iq(Element iq) {
    const std::string type = iq.attr_or("type");
    const std::string id = iq.attr_or("id");
    const std::string from = iq.attr_or("from");
    if (type == "result" || type == "error") {
      auto it = iqs.find(id);
      if (it == iqs.end() || !answer_from_expected(it->second.to, from)) {
        log::info(kLog, "dropped an answer to a question we did not ask");
        return;
      }
      PendingIq pending = std::move(it->second);
      iqs.erase(it);
      pending.timer->cancel();
      if (type == "result") {
        pending.done(std::move(iq));
      } else {
        pending.done(tl::unexpected(stanza_error(iq)));
      }
      return;
    }
    if (type != "get" && type != "set") return;  // RFC 6120 §8.2.3: no reply to bad types
    const Element* payload = iq.first_child();
    if (payload && payload->is("query", ns::roster) && type == "set") {
      // RFC 6121 §2.1.6: a push has no 'from', or our bare JID.
      if (!from.empty() && from != credentials.jid.bare_str()) {
        log::warn(kLog, "dropped a roster push from someone else (" + from + ")");
        return;
      }
      reply_result(iq);
      for (const Element* item : payload->children("item", ns::roster)) apply_roster_item(*item);
      return;
    }
    if (payload && payload->is("ping", ns::ping) && type == "get") {
      reply_result(iq);
      return;
    }
    if (payload && payload->is("query", ns::disco_info) && type == "get") {
      Element result = make_iq("result", id, from);
      Element& query = result.add_child("query", std::string(ns::disco_info));
      query.add_child("identity", std::string(ns::disco_info))
          .set_attr("category", "client")
          .set_attr("type", "pc")
          .set_attr("name", "Sotto");
      for (std::string_view feature : {ns::disco_info, ns::receipts, ns::ping, ns::carbons}) {
        query.add_child("feature", std::string(ns::disco_info))
            .set_attr("var", std::string(feature));
      }
      session->send(result);
      return;
    }
    Element error = make_iq("error", id, from);
    Element& e = error.add_child("error", std::string(ns::client));
    e.set_attr("type", "cancel");
    e.add_child("service-unavailable", std::string(ns::stanzas));
    session->send(error);
  }

  void reply_result(const Element& iq) {
    if (session) session->send(make_iq("result", iq.attr_or("id"), iq.attr_or("from")));
  }

  // --- roster ----------------------------------------------------------------

  static std::optional<RosterItem> parse_item(const Element& item) {
    auto jid = Jid::parse(item.attr_or("jid"));
    if (!jid || !jid->is_bare()) return std::nullopt;
    auto sub = parse_subscription(item.attr_or("subscription"));
    RosterItem out;
    out.jid = *jid;
    out.name = item.attr_or("name");
    out.subscription = sub.value_or(Subscription::none);
    out.waiting_for_authorization = item.attr_or("ask") == "subscribe";
    for (const Element* group : item.children("group", ns::roster)) {
      std::string name = group->text();
      if (!name.empty() &&
          std::find(out.groups.begin(), out.groups.end(), name) == out.groups.end())
        out.groups.push_back(std::move(name));
    }
    return out;
  }

  void apply_roster_item(const Element& item) {
    if (item.attr_or("subscription") == "remove") {
      auto jid = Jid::parse(item.attr_or("jid"));
      if (!jid) return;
      auto it = std::find_if(roster.begin(), roster.end(),
                             [&](const RosterItem& r) { return r.jid == *jid; });
      if (it != roster.end()) {
        roster.erase(it);
        listener.on_roster_removed(*jid);
      }
      return;
    }
    auto parsed = parse_item(item);
    if (!parsed) {
      log::info(kLog, "dropped a roster item with a bad address");
      return;
    }
    auto it = std::find_if(roster.begin(), roster.end(),
                           [&](const RosterItem& r) { return r.jid == parsed->jid; });
    if (it != roster.end()) {
      *it = *parsed;
    } else {
      roster.push_back(*parsed);
    }
    if (parsed->subscription == Subscription::from || parsed->subscription == Subscription::both) {
      requests.erase(parsed->jid);
    }
    listener.on_roster_item(*parsed);
  }

  void request_roster() {
    Element iq = make_iq("get", "roster-" + random_id(8));
    iq.add_child("query", std::string(ns::roster));
    std::weak_ptr<Impl> weak = shared_from_this();
    send_iq(std::move(iq), [weak](Result<Element> result) {
      auto self = weak.lock();
      if (!self) return;
      if (!result) {
        log::write(result.error().code == Errc::not_connected ? log::Level::info : log::Level::warn,
                   kLog, "could not fetch the contact list: " + result.error().message);
        return;
      }
      const Element* query = result->child("query", ns::roster);
      if (query == nullptr) return;  // roster versioning: unchanged
      self->roster.clear();
      for (const Element* item : query->children("item", ns::roster)) {
        if (auto parsed = parse_item(*item)) self->roster.push_back(std::move(*parsed));
      }
      self->listener.on_roster(self->roster);
    });
  }

  void roster_set(const Jid& jid, std::string name, std::vector<std::string> groups, bool remove,
                  std::function<void(Result<void>)> done) {
    Element iq = make_iq("set", "rs-" + random_id(8));
    Element& item =
        iq.add_child("query", std::string(ns::roster)).add_child("item", std::string(ns::roster));
    item.set_attr("jid", jid.bare_str());
    if (remove) {
      item.set_attr("subscription", "remove");
    } else {
      if (!name.empty()) item.set_attr("name", name);
      for (auto& group : groups) {
        if (!group.empty()) item.add_child("group", std::string(ns::roster)).add_text(group);
      }
    }
    send_iq(std::move(iq), [done = std::move(done)](Result<Element> result) {
      if (!result) {
        done(tl::unexpected(result.error()));
      } else {
        done({});
      }
    });
  }

  void send_subscription(const Jid& to, std::string_view type) {
    if (!session || !session->online()) return;
    Element p("presence", std::string(ns::client));
    p.set_attr("to", to.bare_str());
    p.set_attr("type", std::string(type));
    session->send(p);
  }

  // --- incoming --------------------------------------------------------------

  void on_stanza(Element stanza) {
    if (stanza.name() == "iq") {
      on_iq(std::move(stanza));
    } else if (stanza.name() == "presence") {
      on_presence(stanza);
    } else if (stanza.name() == "message") {
      on_message(stanza);
    }
  }

  void on_presence(const Element& stanza) {
    auto from = Jid::parse(stanza.attr_or("from"));
    if (!from) return;
    const std::string type = stanza.attr_or("type");
    if (type == "subscribe") {
      requests.insert(from->bare());
      listener.on_subscription_request(
          from->bare(), stanza.child_text("nick", "http://jabber.org/protocol/nick"));
      return;
    }
    if (type == "unsubscribed") {
      listener.on_subscription_denied(from->bare());
      return;
    }
    if (type == "subscribed" || type == "unsubscribe" || type == "probe") return;
    Presence p;
    p.from = *from;
    if (type == "unavailable" || type == "error") {
      p.show = Show::unavailable;
      // Servers also say "unavailable" for contacts never seen online (after
      // a probe or a subscription change): news only if we knew otherwise.
      auto contact = presence.find(from->bare());
      if (contact == presence.end()) return;
      if (from->is_bare()) {
        presence.erase(contact);
      } else {
        if (contact->second.erase(from->resource()) == 0) return;
        if (contact->second.empty()) presence.erase(contact);
      }
    } else if (!type.empty()) {
      return;
    } else {
      p.show = parse_show(stanza.child_text("show", ns::client)).value_or(Show::available);
      if (p.show == Show::unavailable) p.show = Show::available;
      std::string priority = stanza.child_text("priority", ns::client);
      p.priority = priority.empty() ? 0 : std::clamp(std::atoi(priority.c_str()), -128, 127);
      presence[from->bare()][from->resource()] = p;
    }
    p.status = stanza.child_text("status", ns::client);
    listener.on_presence(p);
  }

  bool remember(const Jid& from, const std::string& id) {
    if (id.empty()) return true;
    std::string key = from.bare_str() + '\n' + id;
    if (!seen.insert(key).second) return false;
    seen_order.push_back(std::move(key));
    if (seen_order.size() > kDedupWindow) {
      seen.erase(seen_order.front());
      seen_order.pop_front();
    }
    return true;
  }

  void on_message(const Element& stanza) {
    const std::string from_text = stanza.attr_or("from");
    // RFC 6120 §8.1.2.1: no 'from' means our own account (the server on its
    // behalf), which is how Prosody sends archive results.
    auto from = from_text.empty() ? Result<Jid>(credentials.jid) : Jid::parse(from_text);
    const bool from_account = from && from->is_bare() && *from == credentials.jid;
    const Element* carbon = nullptr;
    bool carbon_sent = false;
    for (std::string_view direction : {"received", "sent"}) {
      if (const Element* c = stanza.child(direction, ns::carbons)) {
        carbon = c;
        carbon_sent = direction == "sent";
      }
    }
    const Element* result = stanza.child("result", ns::mam);
    if ((carbon || result) && !from_account) {
      // XEP-0280 §11 / XEP-0313 §5: only our own account may forward to us.
      log::warn(kLog, std::string("dropped a forged ") +
                          (carbon ? "carbon copy" : "archive result") + " from " + from_text);
      return;
    }
    if (carbon) {
      const Element* forwarded = carbon->child("forwarded", ns::forward);
      const Element* inner = forwarded ? forwarded->child("message", ns::client) : nullptr;
      if (inner) handle_chat(*inner, carbon_sent, /*carbon=*/true, false, nullptr);
      return;
    }
    if (result) {
      if (!mam_queries.contains(result->attr_or("queryid"))) {
        log::info(kLog, "dropped an archive result for a query we did not make");
        return;
      }
      const Element* forwarded = result->child("forwarded", ns::forward);
      const Element* inner = forwarded ? forwarded->child("message", ns::client) : nullptr;
      if (inner) {
        auto inner_from = Jid::parse(inner->attr_or("from"));
        bool outgoing = inner_from && inner_from->bare() == credentials.jid;
        handle_chat(*inner, outgoing, false, true, forwarded->child("delay", ns::delay));
        std::string archive_id = result->attr_or("id");
        if (!archive_id.empty()) last_archive_id = archive_id;
      }
      return;
    }
    handle_chat(stanza, false, false, false, stanza.child("delay", ns::delay));
  }

  void handle_chat(const Element& stanza, bool outgoing, bool carbon, bool archive,
                   const Element* delay) {
    auto from = Jid::parse(stanza.attr_or("from"));
    auto to = Jid::parse(stanza.attr_or("to"));
    if (!from) {
      if (!outgoing) return;
      from = bound;
    }
    const std::string type = stanza.attr_or("type");
    const std::string id = stanza.attr_or("id");
    if (type == "error") {
      listener.on_message_error(*from, id, stanza_error(stanza));
      return;
    }
    if (const Element* receipt = stanza.child("received", ns::receipts)) {
      if (outgoing || archive) return;
      const std::string acked_id = receipt->attr_or("id");
      const auto& unacked = sm.unacked_stanzas();
      if (std::any_of(unacked.begin(), unacked.end(),
                      [&](const SentStanza& s) { return s.message_id == acked_id; })) {
        delivered_before_ack.insert(acked_id);
      }
      listener.on_message_delivered(from->bare(), acked_id);
      return;
    }
    const Element* body = stanza.child("body", ns::client);
    if (body == nullptr || type == "groupchat" || type == "headline") return;
    Jid peer = outgoing ? (to ? to->bare() : Jid()) : from->bare();
    if (peer.empty()) return;
    // The same message may come live, from offline storage, as a carbon and
    // from the archive; and a sender resends what we never acknowledged.
    if (!remember(outgoing ? credentials.jid : *from, id)) {
      log::debug(kLog, "dropped a duplicate message");
      return;
    }
    if (!carbon && !archive) {
      if (const Element* sid = stanza.child("stanza-id", ns::stanza_id);
          sid && sid->attr_or("by") == credentials.jid.bare_str()) {
        // During a catch-up the archive's own paging decides where we are.
        (catching_up ? live_archive_id : last_archive_id) = sid->attr_or("id");
      }
    }
    Message message;
    message.id = id;
    message.from = outgoing ? bound : *from;
    message.to = outgoing ? (to ? *to : peer) : (to ? *to : bound);
    message.body = body->text();
    message.outgoing = outgoing;
    message.carbon = carbon;
    message.from_archive = archive;
    message.time = std::chrono::system_clock::now();
    if (delay) {
      if (auto stamp = parse_stamp(delay->attr_or("stamp"))) {
        message.time = *stamp;
        message.delayed = true;
      }
    }
    if (!outgoing && !archive && !carbon && stanza.child("request", ns::receipts) && !id.empty() &&
        in_roster(from->bare())) {
      Element receipt("message", std::string(ns::client));
      receipt.set_attr("to", from->str());
      receipt.set_attr("id", random_id(12));
      receipt.add_child("received", std::string(ns::receipts)).set_attr("id", id);
      receipt.add_child("store", std::string(ns::hints));
      session->send(receipt);
    }
    listener.on_message(message);
  }

  bool in_roster(const Jid& bare) const {
    return std::any_of(roster.begin(), roster.end(),
                       [&](const RosterItem& item) { return item.jid == bare; });
  }

  // XEP-0313: what arrived while no session of ours was there to receive it.
  void catch_up_from_archive(std::string after = {}) {
    if (after.empty()) after = last_archive_id;
    if (after.empty() || catching_up) return;
    catching_up = true;
    if (after == last_archive_id) live_archive_id.clear();
    std::string query_id = "mam-" + random_id(8);
    Element iq = make_iq("set", query_id);
    Element& query = iq.add_child("query", std::string(ns::mam));
    query.set_attr("queryid", query_id);
    Element& set = query.add_child("set", std::string(ns::rsm));
    set.add_child("max", std::string(ns::rsm)).add_text("100");
    set.add_child("after", std::string(ns::rsm)).add_text(after);
    mam_queries.insert(query_id);
    std::weak_ptr<Impl> weak = shared_from_this();
    send_iq(std::move(iq), [weak, query_id](Result<Element> result) {
      auto self = weak.lock();
      if (!self) return;
      self->catching_up = false;
      self->mam_queries.erase(query_id);
      if (!result) {
        log::info(kLog, "could not fetch the archive: " + result.error().message);
        return;
      }
      const Element* fin = result->child("fin", ns::mam);
      if (fin && fin->attr_or("complete") != "true") {
        const Element* set = fin->child("set", ns::rsm);
        std::string last = set ? set->child_text("last", ns::rsm) : std::string();
        if (!last.empty()) {
          self->catch_up_from_archive(last);
          return;
        }
      }
      if (!self->live_archive_id.empty()) self->last_archive_id = self->live_archive_id;
      self->live_archive_id.clear();
    });
  }
};

// ---------------------------------------------------------------------------

Client::Client(asio::any_io_executor executor, Credentials credentials, ServerSettings server,
               ClientListener& listener)
    : impl_(std::make_shared<Impl>(executor, std::move(credentials), std::move(server), listener)) {
}

Client::~Client() {
  if (impl_->session) impl_->disconnect();
  impl_->reconnect_timer.cancel();
  impl_->traffic = nullptr;
}

void Client::connect(Show show, std::string status) {
  impl_->want_online = true;
  impl_->online_this_time = false;
  impl_->show = show;
  impl_->status = std::move(status);
  impl_->attempt = 0;
  impl_->connect();
}

void Client::disconnect() { impl_->disconnect(); }

void Client::reconfigure(ServerSettings server, std::string password) {
  if (impl_->session) return;  // only between connections
  impl_->server = std::move(server);
  secure_wipe(impl_->credentials.password);
  impl_->credentials.password = std::move(password);
}
ConnectionState Client::state() const { return impl_->state; }
const Jid& Client::bound_jid() const { return impl_->bound; }
const Jid& Client::jid() const { return impl_->credentials.jid; }
const std::string& Client::server_cert_sha256() const { return impl_->cert_sha256; }

std::string Client::send_message(const Jid& to, std::string body, std::string id) {
  if (id.empty()) id = random_id(16);
  impl_->outbox.push_back(Impl::Outgoing{id, to, std::move(body)});
  impl_->flush_outbox();
  return id;
}

std::size_t Client::unacknowledged_messages() const { return impl_->unacked_messages(); }

void Client::set_presence(Show show, std::string status) {
  if (show == Show::unavailable) {
    disconnect();
    return;
  }
  impl_->show = show;
  impl_->status = std::move(status);
  impl_->send_presence();
}

const std::vector<RosterItem>& Client::roster() const { return impl_->roster; }

const RosterItem* Client::roster_item(const Jid& bare) const {
  for (const RosterItem& item : impl_->roster) {
    if (item.jid == bare) return &item;
  }
  return nullptr;
}

void Client::add_contact(const Jid& jid, std::string name, std::vector<std::string> groups,
                         std::function<void(Result<void>)> done) {
  std::weak_ptr<Impl> weak = impl_;
  Jid bare = jid.bare();
  impl_->roster_set(bare, std::move(name), std::move(groups), false,
                    [weak, bare, done = std::move(done)](Result<void> result) {
                      auto self = weak.lock();
                      if (result && self) {
                        const RosterItem* item = nullptr;
                        for (const RosterItem& r : self->roster)
                          if (r.jid == bare) item = &r;
                        if (!item || (item->subscription != Subscription::to &&
                                      item->subscription != Subscription::both))
                          self->send_subscription(bare, "subscribe");
                      }
                      done(std::move(result));
                    });
}

void Client::update_contact(const Jid& jid, std::string name, std::vector<std::string> groups,
                            std::function<void(Result<void>)> done) {
  impl_->roster_set(jid.bare(), std::move(name), std::move(groups), false, std::move(done));
}

void Client::remove_contact(const Jid& jid, std::function<void(Result<void>)> done) {
  impl_->roster_set(jid.bare(), {}, {}, true, std::move(done));
}

void Client::authorize(const Jid& jid) {
  Jid bare = jid.bare();
  impl_->requests.erase(bare);
  impl_->send_subscription(bare, "subscribed");
  const RosterItem* item = roster_item(bare);
  if (!item ||
      ((item->subscription == Subscription::none || item->subscription == Subscription::from) &&
       !item->waiting_for_authorization)) {
    impl_->send_subscription(bare, "subscribe");
  }
}

void Client::deny(const Jid& jid) {
  impl_->requests.erase(jid.bare());
  impl_->send_subscription(jid.bare(), "unsubscribed");
}

std::vector<Jid> Client::pending_requests() const {
  return std::vector<Jid>(impl_->requests.begin(), impl_->requests.end());
}

void Client::change_password(std::string new_password, std::function<void(Result<void>)> done) {
  Element iq = make_iq("set", "pw-" + random_id(8), impl_->credentials.jid.domain());
  Element& query = iq.add_child("query", std::string(ns::register_));
  query.add_child("username", std::string(ns::register_)).add_text(impl_->credentials.jid.local());
  query.add_child("password", std::string(ns::register_)).add_text(new_password);
  std::weak_ptr<Impl> weak = impl_;
  impl_->send_iq(std::move(iq), [weak, new_password = std::move(new_password),
                                 done = std::move(done)](Result<Element> result) mutable {
    auto self = weak.lock();
    if (!result) {
      secure_wipe(new_password);
      Error error = result.error();
      if (error.code == Errc::not_connected || error.code == Errc::timeout) {
        // The server may have applied it before the answer got lost.
        error.message =
            "the server did not confirm the password change (" + error.message +
            "); it may or may not have changed: if logging in fails, try the new password";
      } else {
        error.message = "could not change the password: " + error.message;
      }
      done(tl::unexpected(std::move(error)));
      return;
    }
    if (self) {
      secure_wipe(self->credentials.password);
      self->credentials.password = std::move(new_password);
    }
    done({});
  });
}

void Client::set_traffic_observer(TrafficObserver observer) {
  impl_->traffic = std::move(observer);
  if (impl_->session) impl_->session->set_traffic_observer(impl_->traffic);
}

std::vector<Presence> Client::presences(const Jid& bare) const {
  std::vector<Presence> out;
  auto it = impl_->presence.find(bare.bare());
  if (it == impl_->presence.end()) return out;
  for (const auto& [resource, p] : it->second) out.push_back(p);
  return out;
}

// ---------------------------------------------------------------------------

void register_account(asio::any_io_executor executor, Credentials credentials,
                      ServerSettings server, std::function<void(Result<void>)> done,
                      TrafficObserver observer) {
  struct Registration : std::enable_shared_from_this<Registration> {
    StreamManagement sm;
    std::shared_ptr<Connection> connection;
    std::unique_ptr<Session> session;
    std::function<void(Result<void>)> done;
    std::unique_ptr<asio::steady_timer> deadline;

    void finish(Result<void> result) {
      if (!done) return;
      auto callback = std::move(done);
      done = nullptr;
      deadline->cancel();
      if (result) {
        connection->close();
      } else {
        connection->abort();
      }
      // Let go of ourselves after the current callback unwinds.
      auto self = shared_from_this();
      asio::post(deadline->get_executor(), [self] {
        self->session.reset();
        self->connection.reset();
      });
      callback(std::move(result));
    }
  };
  auto reg = std::make_shared<Registration>();
  reg->done = std::move(done);
  reg->deadline = std::make_unique<asio::steady_timer>(executor);
  std::weak_ptr<Registration> weak = reg;
  Millis total = server.step_timeout * 3;
  reg->connection =
      std::make_shared<Connection>(executor, credentials.jid.domain(), server,
                                   Connection::Handler{
                                       [weak] {
                                         if (auto r = weak.lock()) r->session->start();
                                       },
                                       [weak](std::string_view bytes) {
                                         if (auto r = weak.lock(); r && r->session)
                                           r->session->on_data(bytes);
                                       },
                                       [weak] {
                                         if (auto r = weak.lock()) r->session->on_tls_ready();
                                       },
                                       [weak](Error error) {
                                         if (auto r = weak.lock())
                                           r->finish(tl::unexpected(std::move(error)));
                                       },
                                   });
  SessionConfig config;
  config.mode = SessionMode::register_account;
  config.jid = credentials.jid.bare();
  config.password = credentials.password;
  secure_wipe(credentials.password);
  Connection* conn = reg->connection.get();
  reg->session = std::make_unique<Session>(
      std::move(config), reg->sm,
      Session::Io{[conn](std::string bytes) { conn->write(std::move(bytes)); },
                  [conn] { conn->start_tls(); }, [conn] { return conn->tls_active(); }, nullptr,
                  nullptr},
      Session::Events{nullptr, nullptr, nullptr,
                      [weak](Error error) {
                        if (auto r = weak.lock()) r->finish(tl::unexpected(std::move(error)));
                      },
                      [weak] {
                        if (auto r = weak.lock()) r->finish({});
                      }});
  if (observer) reg->session->set_traffic_observer(std::move(observer));
  reg->deadline->expires_after(total);
  reg->deadline->async_wait([reg](std::error_code ec) {
    if (ec) return;
    reg->finish(fail(Errc::timeout, "the server did not answer in time"));
  });
  reg->connection->start();
}

// ---------------------------------------------------------------------------

namespace testing {

OfflineClient::OfflineClient(asio::any_io_executor executor, ClientListener& listener,
                             std::string_view jid)
    : client_(executor, Credentials{*Jid::parse(jid), "secret", "test"}, ServerSettings{},
              listener) {
  auto& impl = *client_.impl_;
  impl.want_online = true;
  impl.offline_test = true;
  auto tls = std::make_shared<bool>(false);
  impl.make_session(Session::Io{[this](std::string bytes) { written_ += bytes; },
                                [tls] { *tls = true; }, [tls] { return *tls; }, nullptr, nullptr});
  const std::string header =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' id='t' version='1.0'>";
  impl.session->start();
  feed(header);
  feed("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
  feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  impl.session->on_tls_ready();
  feed(header);
  feed(
      "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN"
      "</mechanism></mechanisms></stream:features>");
  feed("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
  feed(header);
  written_.clear();
  feed(
      "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm "
      "xmlns='urn:xmpp:sm:3'/></stream:features>");
  auto bind = parse_element(take_written());
  feed("<iq type='result' id='" + (bind ? bind->attr_or("id") : std::string()) +
       "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>" + std::string(jid) +
       "/test</jid></bind></iq>");
  feed("<enabled xmlns='urn:xmpp:sm:3' id='sm' resume='true'/>");
}

OfflineClient::~OfflineClient() {
  auto& impl = *client_.impl_;
  impl.want_online = false;
  impl.session.reset();
}

void OfflineClient::feed(std::string_view bytes) {
  auto& impl = *client_.impl_;
  if (impl.session) impl.on_data(bytes);
}

std::string OfflineClient::take_written() { return std::exchange(written_, std::string()); }

bool OfflineClient::online() const {
  return client_.impl_->session && client_.impl_->session->online();
}

}  // namespace testing
}  // namespace sotto::xmpp
