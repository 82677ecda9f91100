// SIP accounts, calls and messages (issue 6) between Sotto users through a
// real Kamailio, driven over `sotto rpc` the way a front end drives Sotto:
// registration over UDP, TCP and TLS, re-registration after a Kamailio
// restart, calls (ring, answer, hold, resume, hang up, reject, cancel), SIP
// MESSAGE both ways, OTR over SIP (Kamailio's log shows only ?OTR bodies),
// and bad input sent to a registered Sotto from a raw UDP socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sotto_on_kamailio.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Sip : public SottoOnKamailio {};

std::string tail(const std::string& text, std::size_t bytes = 4000) {
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

std::string secret_text(const std::string& tag) {
  return "sip-secret-" + tag + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(Clock::now().time_since_epoch().count() % 1000000);
}

// --- Registration -------------------------------------------------------------

TEST_F(Sip, RegistersOverUdpTcpAndTls) {
  for (const std::string transport : {"udp", "tcp"}) {
    SottoUser user = online("reg" + transport, transport);
    EXPECT_EQ(account_state(user), "online") << transport;
    const std::string name = user_of(user);
    std::vector<std::string> contacts = kamailio_->contacts(name);
    ASSERT_EQ(contacts.size(), 1u) << transport;
    json listed = user.rpc->call("account.list");
    ASSERT_TRUE(listed.is_array() && !listed.empty()) << listed.dump();
    EXPECT_EQ(listed[0].value("protocol", ""), "sip") << listed.dump();
    EXPECT_EQ(listed[0].value("transport", ""), transport) << listed.dump();
  }

  // TLS: the self-signed certificate is refused with its fingerprint, then
  // pinned by the user, then accepted.
  SottoUser user = start_sip_user("regtls");
  user.rpc->call("account.add", sip_account(user, "tls", *kamailio_, /*pin=*/false));
  json refused =
      user.rpc->call_raw("account.connect", {{"address", user.address}, {"wait", true}}, 30s);
  ASSERT_TRUE(refused.contains("error")) << refused.dump();
  EXPECT_EQ(refused["error"]["data"].value("errc", ""), "certificate") << refused.dump();
  EXPECT_EQ(refused["error"]["data"].value("detail", ""), kamailio_->cert_sha256())
      << refused.dump();
  EXPECT_TRUE(kamailio_->contacts(user_of(user)).empty());
  user.rpc->call("account.pin", {{"address", user.address}, {"sha256", kamailio_->cert_sha256()}});
  connect(user);
  EXPECT_EQ(account_state(user), "online");
  EXPECT_EQ(kamailio_->contacts(user_of(user)).size(), 1u);
}

TEST_F(Sip, AWrongPasswordFailsWithAuth) {
  SottoUser user = start_sip_user("wrongpw");
  json params = sip_account(user);
  params["password"] = "not-" + user.password;
  user.rpc->call("account.add", params);
  json failed =
      user.rpc->call_raw("account.connect", {{"address", user.address}, {"wait", true}}, 30s);
  ASSERT_TRUE(failed.contains("error")) << failed.dump();
  EXPECT_EQ(failed["error"]["data"].value("errc", ""), "auth") << failed.dump();
  EXPECT_EQ(account_state(user), "failed");
  EXPECT_TRUE(kamailio_->contacts(user_of(user)).empty());
}

TEST_F(Sip, RegistersWithSha256Digest) {
  KamailioOptions options;
  options.algorithm = "SHA-256";
  Kamailio server(options);
  SottoUser user = online("sha", "udp", server);
  EXPECT_EQ(account_state(user), "online");
  EXPECT_EQ(server.contacts(user_of(user)).size(), 1u);
  EXPECT_NE(server.log_contents().find("SIPLOG registered " + user_of(user)), std::string::npos);
}

TEST_F(Sip, ReRegistersAfterAKamailioRestart) {
  // Its own Kamailio, granting 10 s registrations (clients refresh sooner).
  KamailioOptions options;
  options.max_expires = 10;
  Kamailio server(options);
  SottoUser udp = online("restartudp", "udp", server);
  SottoUser tcp = online("restarttcp", "tcp", server);
  ASSERT_TRUE(server.wait_registered(user_of(udp), 5s));
  ASSERT_TRUE(server.wait_registered(user_of(tcp), 5s));

  server.restart();  // same ports and users; the registrations are gone
  EXPECT_TRUE(server.contacts(user_of(udp)).empty());

  // Back without anyone doing anything.
  EXPECT_TRUE(server.wait_registered(user_of(udp), 30s)) << "UDP account not registered again\n"
                                                         << udp.rpc->stderr_text();
  EXPECT_TRUE(server.wait_registered(user_of(tcp), 30s)) << "TCP account not registered again\n"
                                                         << tcp.rpc->stderr_text();
  for (SottoUser* user : {&udp, &tcp}) {
    const auto deadline = Clock::now() + 10s;
    while (account_state(*user) != "online" && Clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(account_state(*user), "online") << user->address;
  }
  // And it works: a message from one to the other.
  send_message(udp, tcp.address, "after the restart");
  wait_message(tcp, "after the restart", 20s);
}

// --- Calls ------------------------------------------------------------------

TEST_F(Sip, CallRingAnswerHoldResumeHangUp) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  auto [id, incoming] = ring(alice, bob);
  EXPECT_FALSE(incoming.value("outgoing", true)) << incoming.dump();
  const std::string bob_id = incoming.value("id", "");

  json listed = bob.rpc->call("call.list");
  ASSERT_TRUE(listed.is_array()) << listed.dump();
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0].value("state", ""), "incoming");

  bob.rpc->call("call.answer", {{"id", bob_id}});
  json bob_active = wait_call_state(bob, bob_id, "active");
  json alice_active = wait_call_state(alice, id, "active");
  EXPECT_FALSE(alice_active.value("codec", "").empty()) << alice_active.dump();
  EXPECT_FALSE(bob_active.value("codec", "").empty()) << bob_active.dump();
  EXPECT_TRUE(alice_active.contains("connected")) << alice_active.dump();
  EXPECT_TRUE(alice_active.value("outgoing", false));

  // Hold and resume (re-INVITE).
  alice.rpc->call("call.hold", {{"id", id}, {"on", true}});
  wait_call(alice,
            [&](const json& c) { return c.value("id", "") == id && c.value("on_hold", false); });
  wait_call(bob, [&](const json& c) {
    return c.value("id", "") == bob_id && c.value("remote_hold", false);
  });
  alice.rpc->call("call.hold", {{"id", id}, {"on", false}});
  wait_call(alice, [&](const json& c) {
    return c.value("id", "") == id && c.value("state", "") == "active" && !c.value("on_hold", true);
  });
  wait_call(bob, [&](const json& c) {
    return c.value("id", "") == bob_id && c.value("state", "") == "active" &&
           !c.value("remote_hold", true);
  });

  alice.rpc->call("call.hangup", {{"id", id}});
  json alice_end = wait_call_state(alice, id, "ended");
  json bob_end = wait_call_state(bob, bob_id, "ended");
  EXPECT_EQ(alice_end.value("end_reason", ""), "hung_up") << alice_end.dump();
  EXPECT_EQ(bob_end.value("end_reason", ""), "remote_hung_up") << bob_end.dump();
  EXPECT_TRUE(alice.rpc->call("call.list").empty());
  EXPECT_TRUE(bob.rpc->call("call.list").empty());

  // Both histories have the call.
  json alice_history = alice.rpc->call("history.calls", {{"limit", 10}});
  ASSERT_EQ(alice_history.size(), 1u) << alice_history.dump();
  EXPECT_EQ(alice_history[0].value("peer", ""), bob.address);
  EXPECT_TRUE(alice_history[0].value("outgoing", false));
  EXPECT_TRUE(alice_history[0].contains("end")) << alice_history.dump();
  EXPECT_FALSE(alice_history[0].value("reason", "").empty()) << alice_history.dump();
  json bob_history = bob.rpc->call("history.calls", {{"limit", 10}});
  ASSERT_EQ(bob_history.size(), 1u) << bob_history.dump();
  EXPECT_EQ(bob_history[0].value("peer", ""), alice.address);
  EXPECT_FALSE(bob_history[0].value("outgoing", true));
}

TEST_F(Sip, TheCalleeHangsUp) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  auto [id, incoming] = ring(alice, bob);
  const std::string bob_id = incoming.value("id", "");
  bob.rpc->call("call.answer", {{"id", bob_id}});
  wait_call_state(alice, id, "active");
  wait_call_state(bob, bob_id, "active");
  bob.rpc->call("call.hangup", {{"id", bob_id}});
  EXPECT_EQ(wait_call_state(bob, bob_id, "ended").value("end_reason", ""), "hung_up");
  EXPECT_EQ(wait_call_state(alice, id, "ended").value("end_reason", ""), "remote_hung_up");
}

TEST_F(Sip, BusyRejectEndsTheCallerWithBusy) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  auto [id, incoming] = ring(alice, bob);
  bob.rpc->call("call.reject", {{"id", incoming.value("id", "")}, {"busy", true}});
  json alice_end = wait_call_state(alice, id, "ended");
  EXPECT_EQ(alice_end.value("end_reason", ""), "busy") << alice_end.dump();
  wait_call_state(bob, incoming.value("id", ""), "ended");
  json history = alice.rpc->call("history.calls", {{"limit", 10}});
  ASSERT_EQ(history.size(), 1u) << history.dump();
  EXPECT_TRUE(history[0].value("outgoing", false));
}

TEST_F(Sip, DeclineEndsTheCallerWithDeclined) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  auto [id, incoming] = ring(alice, bob);
  bob.rpc->call("call.reject", {{"id", incoming.value("id", "")}});
  json alice_end = wait_call_state(alice, id, "ended");
  EXPECT_EQ(alice_end.value("end_reason", ""), "declined") << alice_end.dump();
}

TEST_F(Sip, CancelWhileRingingEndsTheCalleeWithCancelled) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  auto [id, incoming] = ring(alice, bob);
  alice.rpc->call("call.hangup", {{"id", id}});
  json bob_end = wait_call_state(bob, incoming.value("id", ""), "ended");
  EXPECT_EQ(bob_end.value("end_reason", ""), "cancelled") << bob_end.dump();
  json alice_end = wait_call_state(alice, id, "ended");
  EXPECT_EQ(alice_end.value("end_reason", ""), "cancelled") << alice_end.dump();
  EXPECT_TRUE(bob.rpc->call("call.list").empty());
}

// Kamailio reaches TCP and TLS clients over the connections they registered
// on: a call and messages between a TCP and a TLS account.
TEST_F(Sip, CallsAndMessagesOverTcpAndTls) {
  SottoUser alice = online("alice", "tcp");
  SottoUser bob = online("bob", "tls");
  auto [id, incoming] = ring(alice, bob);
  const std::string bob_id = incoming.value("id", "");
  bob.rpc->call("call.answer", {{"id", bob_id}});
  wait_call_state(alice, id, "active");
  wait_call_state(bob, bob_id, "active");
  alice.rpc->call("call.hold", {{"id", id}, {"on", true}});
  wait_call(bob, [&](const json& c) {
    return c.value("id", "") == bob_id && c.value("remote_hold", false);
  });
  bob.rpc->call("call.hangup", {{"id", bob_id}});
  EXPECT_EQ(wait_call_state(alice, id, "ended").value("end_reason", ""), "remote_hung_up");
  send_message(alice, bob.address, "over tcp to tls");
  wait_message(bob, "over tcp to tls");
  send_message(bob, alice.address, "over tls to tcp");
  wait_message(alice, "over tls to tcp");
}

TEST_F(Sip, CallingAnUnregisteredUserEndsWithNotFound) {
  SottoUser alice = online("alice");
  SottoUser bob = start_sip_user("bob");  // known to Kamailio, never registered
  json started = alice.rpc->call("call.start", {{"account", alice.address}, {"to", bob.address}});
  json end = wait_call_state(alice, started.value("id", ""), "ended");
  EXPECT_EQ(end.value("end_reason", ""), "not_found") << end.dump();
}

// --- SIP MESSAGE and OTR over SIP -------------------------------------------------

TEST_F(Sip, MessagesBothWays) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob", "tcp");
  const std::uintmax_t offset = kamailio_->log_size();
  json sent = send_message(alice, bob.address, "hello bob over SIP");
  json got = wait_message(bob, "hello bob over SIP");
  EXPECT_EQ(got.value("peer", ""), alice.address) << got.dump();
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == sent.value("id", "") &&
           e.value("state", "") != "sending";
  });
  send_message(bob, alice.address, "hello alice, ünïcode ✓");
  EXPECT_EQ(wait_message(alice, "hello alice, ünïcode ✓").value("peer", ""), bob.address);

  bool seen = false;
  for (const KamailioMessage& m : kamailio_->logged_messages(offset)) {
    if (m.body.find("hello bob over SIP") != std::string::npos) seen = true;
  }
  EXPECT_TRUE(seen) << "Kamailio never relayed the MESSAGE?\n" << tail(kamailio_->log_contents());
}

TEST_F(Sip, AMessageToAnUnregisteredUserFails) {
  SottoUser alice = online("alice");
  SottoUser bob = start_sip_user("bob");
  json sent = send_message(alice, bob.address, "nobody home");
  json state = alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == sent.value("id", "") &&
           e.value("state", "") == "failed";
  });
  EXPECT_EQ(state.value("state", ""), "failed");
}

json wait_privacy(SottoUser& user, const std::string& peer, std::string_view privacy,
                  std::chrono::milliseconds timeout = 60s) {
  return user.rpc->wait_event(
      [&](const json& e) {
        return e.value("type", "") == "otr.privacy" && e.value("peer", "") == peer &&
               e.value("privacy", "") == privacy;
      },
      timeout);
}

TEST_F(Sip, OtrOverSipShowsOnlyOtrOnTheServer) {
  SottoUser alice = online("alice");
  SottoUser bob = online("bob");
  // Both have their OTR keys (made when the account first goes online), as
  // the XMPP suites wait for them too.
  for (SottoUser* user : {&alice, &bob}) {
    json own = user->rpc->call("otr.fingerprint", {{"account", user->address}});
    if (!own["fingerprint"].is_string()) {
      user->rpc->wait_event(
          [&](const json& e) {
            return e.value("type", "") == "otr.key" && e.value("stage", "") == "ready";
          },
          60s);
    }
  }
  const std::uintmax_t offset = kamailio_->log_size();
  alice.rpc->call("otr.start", {{"account", alice.address}, {"peer", bob.address}});
  wait_privacy(alice, bob.address, "unverified");
  wait_privacy(bob, alice.address, "unverified");

  const std::string to_bob = secret_text("tobob");
  const std::string to_alice = secret_text("toalice");
  json sent = send_message(alice, bob.address, to_bob);
  EXPECT_TRUE(sent.value("encrypted", false)) << sent.dump();
  json got = wait_message(bob, to_bob);
  EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  json back = send_message(bob, alice.address, to_alice);
  EXPECT_TRUE(back.value("encrypted", false)) << back.dump();
  EXPECT_TRUE(wait_message(alice, to_alice).value("encrypted", false));

  // What Kamailio saw: every MESSAGE body between them is OTR; the texts nowhere.
  std::size_t otr_bodies = 0;
  for (const KamailioMessage& m : kamailio_->logged_messages(offset)) {
    EXPECT_EQ(m.body.rfind("?OTR", 0), 0u) << "not OTR: " << m.body.substr(0, 200);
    if (m.body.rfind("?OTR", 0) == 0) ++otr_bodies;
  }
  EXPECT_GE(otr_bodies, 4u) << "AKE and two data messages expected in Kamailio's log";
  const std::string log = kamailio_->log_contents();
  EXPECT_EQ(log.find(to_bob), std::string::npos) << "plaintext in Kamailio's log";
  EXPECT_EQ(log.find(to_alice), std::string::npos) << "plaintext in Kamailio's log";
}

// Bob's account goes online for the first time, and Alice, whose key is
// ready, starts OTR at once. Bob's key may still be in the making when her
// query arrives; he cannot answer it then, and asks her again once his key is
// ready, so the conversation goes private either way.
TEST_F(Sip, OtrStartedWhileThePeerMakesItsKeyStillGoesPrivate) {
  SottoUser alice = online("alice");
  json own = alice.rpc->call("otr.fingerprint", {{"account", alice.address}});
  if (!own["fingerprint"].is_string()) {
    alice.rpc->wait_event(
        [](const json& e) {
          return e.value("type", "") == "otr.key" && e.value("stage", "") == "ready";
        },
        60s);
  }
  SottoUser bob = online("bob");  // its key is being made now
  alice.rpc->call("otr.start", {{"account", alice.address}, {"peer", bob.address}});
  wait_privacy(alice, bob.address, "unverified", 20s);
  wait_privacy(bob, alice.address, "unverified", 20s);
}

// --- Bad input ----------------------------------------------------------------

// A UDP socket on 127.0.0.1 sending hand-made requests to one address.
class RawSip {
 public:
  explicit RawSip(uint16_t to_port) : to_port_(to_port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    // Room for every answer to a flood (486s and their retransmissions)
    // until the test reads them: a full buffer would drop the answers that
    // matter and look like Sotto falling silent.
    int size = 8 << 20;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
    socklen_t len = sizeof local;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
    port_ = ntohs(local.sin_port);
  }
  ~RawSip() { ::close(fd_); }
  RawSip(const RawSip&) = delete;
  RawSip& operator=(const RawSip&) = delete;

  uint16_t port() const { return port_; }

  void send(const std::string& datagram) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(to_port_);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ssize_t n = ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
                         sizeof to);
    ASSERT_EQ(n, static_cast<ssize_t>(datagram.size())) << "sendto failed";
  }

  // The next response whose Call-ID is `call_id` (others are dropped), or
  // nullopt after `timeout`.
  std::optional<std::string> response(const std::string& call_id,
                                      std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      std::string buffer(70000, '\0');
      ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n <= 0) continue;
      buffer.resize(static_cast<std::size_t>(n));
      if (buffer.rfind("SIP/2.0 ", 0) != 0) continue;
      if (call_id.empty() || buffer.find("Call-ID: " + call_id + "\r\n") != std::string::npos ||
          buffer.find("i: " + call_id + "\r\n") != std::string::npos) {
        return buffer;
      }
    }
  }

  // The first final (>= 200) response for the Call-ID.
  std::optional<int> final_status(const std::string& call_id, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto r = response(call_id, std::max(left, 1ms));
      if (!r) return std::nullopt;
      int status = std::atoi(r->c_str() + 8);
      if (status >= 200) return status;
    }
  }

  std::string request(const std::string& method, const std::string& target,
                      const std::string& call_id, const std::string& extra_headers = "",
                      const std::string& body = "", std::optional<std::size_t> length = {}) {
    std::string r = method + " " + target + " SIP/2.0\r\n";
    r += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=z9hG4bK" + call_id +
         ";rport\r\n";
    r += "Max-Forwards: 70\r\n";
    r += "From: <sip:mallory@127.0.0.1>;tag=m" + call_id + "\r\n";
    r += "To: <" + target + ">\r\n";
    if (!call_id.empty()) r += "Call-ID: " + call_id + "\r\n";
    r += "CSeq: 1 " + method + "\r\n";
    r += "Contact: <sip:mallory@127.0.0.1:" + std::to_string(port_) + ">\r\n";
    r += extra_headers;
    r += "Content-Length: " + std::to_string(length.value_or(body.size())) + "\r\n\r\n";
    return r + body;
  }

 private:
  int fd_ = -1;
  uint16_t to_port_ = 0;
  uint16_t port_ = 0;
};

std::string sdp(const std::string& formats, const std::string& rtpmaps) {
  return "v=0\r\no=mallory 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio 40000 RTP/AVP " +
         formats + "\r\n" + rtpmaps;
}

// Sotto's UDP port, from the Contact it registered at Kamailio.
uint16_t contact_port(const std::vector<std::string>& contacts) {
  static const std::regex kPort(R"(@127\.0\.0\.1:(\d+))");
  for (const std::string& c : contacts) {
    std::smatch m;
    if (std::regex_search(c, m, kPort)) return static_cast<uint16_t>(std::stoi(m[1]));
  }
  return 0;
}

TEST_F(Sip, BadInputIsAnsweredOrDroppedAndTheSenderStillServed) {
  SottoUser bob = online("bob");
  const uint16_t port = contact_port(kamailio_->contacts(user_of(bob)));
  ASSERT_NE(port, 0) << "no contact for bob in Kamailio";
  RawSip raw(port);
  const std::string target = "sip:" + bob.address + ":" + std::to_string(port);
  int n = 0;
  // An OPTIONS from the same source, retransmitted every 500 ms as RFC 3261
  // timer E does over UDP (a burst may overflow the socket's receive buffer
  // in the kernel: that loses datagrams, not the peer), answered within 5 s.
  auto still_answers = [&](const std::string& after) {
    const std::string id = "alive" + std::to_string(++n);
    const std::string request = raw.request("OPTIONS", target, id);
    const auto deadline = Clock::now() + 5s;
    std::optional<int> status;
    while (!status && Clock::now() < deadline) {
      raw.send(request);
      status = raw.final_status(id, 500ms);
    }
    EXPECT_TRUE(status.has_value()) << "Sotto stopped answering this source after " << after;
  };

  still_answers("nothing");

  // No Call-ID: 400 or dropped.
  raw.send(raw.request("OPTIONS", target, ""));
  if (auto r = raw.response("", 1s)) {
    EXPECT_EQ(std::atoi(r->c_str() + 8), 400) << *r;
  }
  still_answers("a request without Call-ID");

  // No CSeq.
  {
    std::string r = raw.request("OPTIONS", target, "nocseq");
    r.erase(r.find("CSeq: "), r.find("\r\n", r.find("CSeq: ")) + 2 - r.find("CSeq: "));
    raw.send(r);
    if (auto status = raw.final_status("nocseq", 1s)) {
      EXPECT_EQ(*status, 400);
    }
  }
  still_answers("a request without CSeq");

  // Content-Length larger than the datagram: 400 (RFC 3261 18.3).
  raw.send(raw.request("MESSAGE", target, "biglen", "Content-Type: text/plain\r\n", "short", 5000));
  auto biglen = raw.final_status("biglen", 3s);
  EXPECT_EQ(biglen, std::optional<int>(400));
  still_answers("a Content-Length larger than the datagram");

  // A garbage request line.
  raw.send("HELLO THERE\r\n\r\n");
  raw.send(std::string("\x01\x02\xff garbage \x00\x7f", 15));
  still_answers("garbage request lines");

  // A 64 kB header (in one datagram): an error response or dropped.
  raw.send(
      raw.request("OPTIONS", target, "hugehdr", "X-Huge: " + std::string(63000, 'a') + "\r\n"));
  if (auto status = raw.final_status("hugehdr", 2s)) {
    EXPECT_GE(*status, 400);
  }
  still_answers("a 64 kB header");

  // An INVITE offering no codec Sotto can use: 488.
  raw.send(raw.request("INVITE", target, "nocodec", "Content-Type: application/sdp\r\n",
                       sdp("98", "a=rtpmap:98 NO-SUCH-CODEC/12345\r\n")));
  EXPECT_EQ(raw.final_status("nocodec", 5s), std::optional<int>(488));
  {
    std::string ack = raw.request("ACK", target, "nocodec");
    raw.send(ack);
  }
  still_answers("an INVITE without a usable codec");

  // A bogus zrtp-hash: answered (any status), no crash.
  raw.send(raw.request("INVITE", target, "badzrtp", "Content-Type: application/sdp\r\n",
                       sdp("0", "a=rtpmap:0 PCMU/8000\r\na=zrtp-hash:1.10 zz-not-hex\r\n")));
  EXPECT_TRUE(raw.response("badzrtp", 5s).has_value());
  raw.send(raw.request("CANCEL", target, "badzrtp"));
  still_answers("a bogus zrtp-hash");

  // A flood of INVITEs from one source.
  for (int i = 0; i < 200; ++i) {
    raw.send(raw.request("INVITE", target, "flood" + std::to_string(i),
                         "Content-Type: application/sdp\r\n",
                         sdp("0", "a=rtpmap:0 PCMU/8000\r\n")));
  }
  still_answers("an INVITE flood");
  // Bob's Sotto is still usable, and the flood's calls can be rejected.
  json calls = bob.rpc->call("call.list", json::object(), 20s);
  ASSERT_TRUE(calls.is_array());
  for (const json& c : calls) {
    if (c.value("state", "") == "incoming") {
      bob.rpc->call_raw("call.reject", {{"id", c.value("id", "")}});
    }
  }
  EXPECT_EQ(account_state(bob), "online");

  // Still reachable through Kamailio afterwards.
  SottoUser alice = online("alice");
  send_message(alice, bob.address, "after the bad input");
  wait_message(bob, "after the bad input");
}

}  // namespace
}  // namespace sotto::test
