// Two SIP user agents in one process, talking directly over real UDP and TCP
// sockets on 127.0.0.1 (no registrar: they call "sip:bob@127.0.0.1:PORT"),
// and a raw UDP socket sending what a hostile peer would.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <asio.hpp>

#include "sotto/sip/resolver.h"
#include "sotto/sip/sip.h"

namespace sotto::sip {
namespace {

using namespace std::chrono_literals;

struct Recorder : Listener {
  std::vector<RegistrationState> registrations;
  std::vector<CallHandle> incoming;
  std::map<CallHandle, std::string> incoming_offer;
  std::map<CallHandle, std::string> incoming_from;
  std::vector<CallHandle> ringing;
  std::map<CallHandle, std::string> connected;
  std::map<CallHandle, CallEnd> ended;
  std::vector<std::string> reoffers;
  std::string reoffer_answer = "v=0 answer-to-reoffer\r\n";
  std::map<CallHandle, Result<std::string>> reinvite_results;
  struct Received {
    std::string from, body, type;
  };
  std::vector<Received> messages;
  std::map<std::string, Result<void>> message_results;
  std::function<void(const CallHandle&)> on_incoming;

  void on_registration(RegistrationState state, const std::optional<Error>&) override {
    registrations.push_back(state);
  }
  void on_incoming_call(const CallHandle& call, const std::string& from_uri, const std::string&,
                        const std::string& sdp_offer) override {
    incoming.push_back(call);
    incoming_offer[call] = sdp_offer;
    incoming_from[call] = from_uri;
    if (on_incoming) on_incoming(call);
  }
  void on_call_ringing(const CallHandle& call) override { ringing.push_back(call); }
  void on_call_connected(const CallHandle& call, const std::string& remote_sdp) override {
    connected[call] = remote_sdp;
  }
  Result<std::string> on_call_reoffer(const CallHandle&, const std::string& offer) override {
    reoffers.push_back(offer);
    return reoffer_answer;
  }
  void on_reinvite_result(const CallHandle& call, const Result<std::string>& answer) override {
    reinvite_results.insert_or_assign(call, answer);
  }
  void on_call_ended(const CallHandle& call, const CallEnd& end) override { ended[call] = end; }
  void on_message(const std::string& from, const std::string& body,
                  const std::string& type) override {
    messages.push_back({from, body, type});
  }
  void on_message_result(const std::string& id, const std::string&,
                         const Result<void>& result) override {
    message_results.insert_or_assign(id, result);
  }
};

// Runs `io` until `condition` holds; false if `limit` passed first.
bool run_until(asio::io_context& io, const std::function<bool()>& condition,
               std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_one_for(10ms);
  }
  return true;
}

AccountConfig config_for(const std::string& user, Transport transport) {
  AccountConfig config;
  config.user = user;
  // No registrar in these tests: ".invalid" is never looked up.
  config.domain = "example.invalid";
  config.password = "secret";
  config.transport = transport;
  config.local_address = "127.0.0.1";
  config.transaction_timeout = Millis{4000};
  return config;
}

class SipUaTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    alice_ = std::make_unique<UserAgent>(io_.get_executor(), config_for("alice", GetParam()), a_);
    bob_ = std::make_unique<UserAgent>(io_.get_executor(), config_for("bob", GetParam()), b_);
    alice_->start();
    bob_->start();
  }

  void TearDown() override {
    bool a_done = false, b_done = false;
    alice_->stop([&] { a_done = true; });
    bob_->stop([&] { b_done = true; });
    EXPECT_TRUE(wait([&] { return a_done && b_done; }));
    alice_.reset();
    bob_.reset();
  }

  // Runs the loop until `condition` holds (or 5 s pass).
  bool wait(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5000ms) {
    return run_until(io_, condition, limit);
  }

  std::string bob_uri() {
    std::string uri = "sip:bob@127.0.0.1:" + std::to_string(bob_->local_port());
    if (GetParam() == Transport::tcp) uri += ";transport=tcp";
    return uri;
  }
  std::string alice_uri() {
    std::string uri = "sip:alice@127.0.0.1:" + std::to_string(alice_->local_port());
    if (GetParam() == Transport::tcp) uri += ";transport=tcp";
    return uri;
  }

  // Alice calls Bob, Bob rings and answers: both connected.
  CallHandle connect_call(CallHandle* bob_call) {
    auto call = alice_->invite(bob_uri(), "v=0 alice-offer\r\n");
    EXPECT_TRUE(call.has_value());
    EXPECT_TRUE(wait([&] { return !b_.incoming.empty(); }));
    if (b_.incoming.empty()) return {};
    *bob_call = b_.incoming.back();
    EXPECT_TRUE(bob_->ring(*bob_call).has_value());
    EXPECT_TRUE(wait([&] { return !a_.ringing.empty(); }));
    EXPECT_TRUE(bob_->answer(*bob_call, "v=0 bob-answer\r\n").has_value());
    EXPECT_TRUE(wait([&] { return a_.connected.count(*call) && b_.connected.count(*bob_call); }));
    return *call;
  }

  asio::io_context io_;
  Recorder a_, b_;
  std::unique_ptr<UserAgent> alice_, bob_;
};

TEST_P(SipUaTest, CallIsAnsweredAndHungUp) {
  CallHandle bob_call;
  auto call = connect_call(&bob_call);
  EXPECT_EQ(b_.incoming_offer[bob_call], "v=0 alice-offer\r\n");
  EXPECT_EQ(b_.incoming_from[bob_call], "sip:alice@example.invalid");
  EXPECT_EQ(a_.connected[call], "v=0 bob-answer\r\n");
  EXPECT_EQ(b_.connected[bob_call], "");
  ASSERT_TRUE(alice_->hangup(call).has_value());
  ASSERT_TRUE(wait([&] { return b_.ended.count(bob_call) && a_.ended.count(call); }));
  EXPECT_EQ(b_.ended[bob_call].reason, EndReason::remote_hangup);
  EXPECT_EQ(a_.ended[call].reason, EndReason::local_hangup);
}

TEST_P(SipUaTest, CalleeHangsUp) {
  CallHandle bob_call;
  auto call = connect_call(&bob_call);
  ASSERT_TRUE(bob_->hangup(bob_call).has_value());
  ASSERT_TRUE(wait([&] { return a_.ended.count(call) > 0; }));
  EXPECT_EQ(a_.ended[call].reason, EndReason::remote_hangup);
}

TEST_P(SipUaTest, CallerCancelsWhileRinging) {
  auto call = alice_->invite(bob_uri(), "v=0 alice-offer\r\n");
  ASSERT_TRUE(call.has_value());
  ASSERT_TRUE(wait([&] { return !b_.incoming.empty(); }));
  auto bob_call = b_.incoming.back();
  ASSERT_TRUE(bob_->ring(bob_call).has_value());
  ASSERT_TRUE(wait([&] { return !a_.ringing.empty(); }));
  ASSERT_TRUE(alice_->hangup(*call).has_value());
  ASSERT_TRUE(wait([&] { return b_.ended.count(bob_call) && a_.ended.count(*call); }));
  EXPECT_EQ(b_.ended[bob_call].reason, EndReason::cancelled);
  EXPECT_EQ(a_.ended[*call].reason, EndReason::local_hangup);
  EXPECT_FALSE(bob_->answer(bob_call, "v=0\r\n").has_value());
}

// Timer B (the transaction timeout, 4 s here) only runs until the first
// provisional answer: a phone may ring longer than that and still be answered.
TEST_P(SipUaTest, ACallRingingLongerThanTheTransactionTimeoutCanStillBeAnswered) {
  auto call = alice_->invite(bob_uri(), "v=0 alice-offer\r\n");
  ASSERT_TRUE(call.has_value());
  ASSERT_TRUE(wait([&] { return !b_.incoming.empty(); }));
  auto bob_call = b_.incoming.back();
  ASSERT_TRUE(bob_->ring(bob_call).has_value());
  ASSERT_TRUE(wait([&] { return !a_.ringing.empty(); }));
  EXPECT_FALSE(wait([&] { return a_.ended.count(*call) > 0; }, 5000ms))
      << "the call ended while it was ringing";
  ASSERT_TRUE(bob_->answer(bob_call, "v=0 bob-answer\r\n").has_value());
  ASSERT_TRUE(wait([&] { return a_.connected.count(*call) && b_.connected.count(bob_call); }));
}

TEST_P(SipUaTest, BusyAndDeclined) {
  auto call = alice_->invite(bob_uri(), "v=0\r\n");
  ASSERT_TRUE(call.has_value());
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 1; }));
  ASSERT_TRUE(bob_->reject(b_.incoming.back(), 486).has_value());
  ASSERT_TRUE(wait([&] { return a_.ended.count(*call) > 0; }));
  EXPECT_EQ(a_.ended[*call].reason, EndReason::busy);
  EXPECT_EQ(a_.ended[*call].status, 486);

  auto second = alice_->invite(bob_uri(), "v=0\r\n");
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 2; }));
  ASSERT_TRUE(bob_->reject(b_.incoming.back(), 603).has_value());
  ASSERT_TRUE(wait([&] { return a_.ended.count(*second) > 0; }));
  EXPECT_EQ(a_.ended[*second].reason, EndReason::declined);
}

TEST_P(SipUaTest, ReinviteHoldAndResumeBothWays) {
  CallHandle bob_call;
  auto call = connect_call(&bob_call);
  b_.reoffer_answer = "v=0 bob-recvonly\r\n";
  ASSERT_TRUE(alice_->reinvite(call, "v=0 alice-sendonly\r\n").has_value());
  ASSERT_TRUE(wait([&] { return a_.reinvite_results.count(call) > 0; }));
  ASSERT_TRUE(a_.reinvite_results.at(call).has_value());
  EXPECT_EQ(*a_.reinvite_results.at(call), "v=0 bob-recvonly\r\n");
  ASSERT_EQ(b_.reoffers.size(), 1u);
  EXPECT_EQ(b_.reoffers[0], "v=0 alice-sendonly\r\n");

  a_.reoffer_answer = "v=0 alice-sendrecv\r\n";
  ASSERT_TRUE(bob_->reinvite(bob_call, "v=0 bob-sendrecv\r\n").has_value());
  ASSERT_TRUE(wait([&] { return b_.reinvite_results.count(bob_call) > 0; }));
  ASSERT_TRUE(b_.reinvite_results.at(bob_call).has_value());
  EXPECT_EQ(*b_.reinvite_results.at(bob_call), "v=0 alice-sendrecv\r\n");

  // The call is still up and ends normally.
  ASSERT_TRUE(alice_->hangup(call).has_value());
  ASSERT_TRUE(wait([&] { return b_.ended.count(bob_call) > 0; }));
  EXPECT_EQ(b_.ended[bob_call].reason, EndReason::remote_hangup);
}

TEST_P(SipUaTest, MessagesBothWays) {
  auto id = alice_->send_message(bob_uri(), "hello bob", "m1");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(*id, "m1");
  ASSERT_TRUE(wait([&] { return a_.message_results.count("m1") && !b_.messages.empty(); }));
  EXPECT_TRUE(a_.message_results.at("m1").has_value());
  EXPECT_EQ(b_.messages[0].body, "hello bob");
  EXPECT_EQ(b_.messages[0].from, "sip:alice@example.invalid");
  EXPECT_NE(b_.messages[0].type.find("text/plain"), std::string::npos);

  auto reply = bob_->send_message(alice_uri(), "hi alice");
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(wait([&] { return b_.message_results.count(*reply) && !a_.messages.empty(); }));
  EXPECT_EQ(a_.messages[0].body, "hi alice");
}

TEST_P(SipUaTest, SeveralCallsAtOnce) {
  CallHandle bob_first;
  auto first = connect_call(&bob_first);
  auto second = alice_->invite(bob_uri(), "v=0 second\r\n");
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 2; }));
  ASSERT_TRUE(bob_->answer(b_.incoming.back(), "v=0 b2\r\n").has_value());
  ASSERT_TRUE(wait([&] { return a_.connected.count(*second) > 0; }));
  ASSERT_TRUE(alice_->hangup(*second).has_value());
  ASSERT_TRUE(wait([&] { return b_.ended.count(b_.incoming.back()) > 0; }));
  EXPECT_EQ(b_.ended.count(bob_first), 0u);  // the first call goes on
  ASSERT_TRUE(alice_->hangup(first).has_value());
  ASSERT_TRUE(wait([&] { return b_.ended.count(bob_first) > 0; }));
}

TEST_P(SipUaTest, ReinviteGlareResolvesByRetrying) {
  CallHandle bob_call;
  auto call = connect_call(&bob_call);
  ASSERT_TRUE(alice_->reinvite(call, "v=0 alice-hold\r\n").has_value());
  ASSERT_TRUE(bob_->reinvite(bob_call, "v=0 bob-hold\r\n").has_value());
  // Both get 491 and try again after a random pause (at most 4 s).
  ASSERT_TRUE(
      wait([&] { return a_.reinvite_results.count(call) && b_.reinvite_results.count(bob_call); },
           10000ms));
  EXPECT_TRUE(a_.reinvite_results.at(call).has_value());
  EXPECT_TRUE(b_.reinvite_results.at(bob_call).has_value());
  EXPECT_EQ(a_.ended.count(call), 0u);
}

TEST_P(SipUaTest, TrafficObserverSeesEveryMessage) {
  std::vector<std::string> seen;
  alice_->set_traffic_observer([&](bool outgoing, std::string_view text) {
    seen.push_back((outgoing ? ">" : "<") + std::string(text.substr(0, text.find(' '))));
  });
  auto id = alice_->send_message(bob_uri(), "observed");
  ASSERT_TRUE(id.has_value());
  ASSERT_TRUE(wait([&] { return a_.message_results.count(*id) > 0; }));
  EXPECT_EQ(seen, (std::vector<std::string>{">MESSAGE", "<SIP/2.0"}));
}

INSTANTIATE_TEST_SUITE_P(Transports, SipUaTest, ::testing::Values(Transport::udp, Transport::tcp),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// --- a hostile peer on a raw UDP socket ------------------------------------

class SipUaRawTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config_for("bob", Transport::udp);
    config.transaction_timeout = Millis{1000};  // the ACK wait below: 1 s
    bob_ = std::make_unique<UserAgent>(io_.get_executor(), config, b_);
    bob_->start();
    raw_.open(asio::ip::udp::v4());
    raw_.bind({asio::ip::make_address("127.0.0.1"), 0});
    raw_.non_blocking(true);
  }
  void TearDown() override {
    bool done = false;
    bob_->stop([&] { done = true; });
    EXPECT_TRUE(wait([&] { return done; }));
  }
  bool wait(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5000ms) {
    return run_until(io_, condition, limit);
  }
  void send(const std::string& text) {
    raw_.send_to(asio::buffer(text),
                 asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), bob_->local_port()));
  }
  // The next message Bob sends to the raw socket, whole.
  std::string next_message(std::chrono::milliseconds limit = 5000ms) {
    std::string text;
    wait(
        [&] {
          std::array<char, 65536> buffer;
          asio::ip::udp::endpoint from;
          std::error_code ec;
          auto n = raw_.receive_from(asio::buffer(buffer), from, 0, ec);
          if (ec) return false;
          text.assign(buffer.data(), n);
          return true;
        },
        limit);
    return text;
  }
  // The next response's status line.
  std::string next_response() {
    auto text = next_message();
    return text.substr(0, text.find("\r\n"));
  }
  static std::string header(const std::string& text, const std::string& name) {
    auto at = text.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    at += name.size() + 4;
    return text.substr(at, text.find("\r\n", at) - at);
  }
  std::string request(const std::string& method, const std::string& call_id, int cseq,
                      const std::string& extra = {}, const std::string& body = {},
                      std::string content_length = {}) {
    auto port = std::to_string(raw_.local_endpoint().port());
    if (content_length.empty()) content_length = std::to_string(body.size());
    std::string text =
        method + " sip:bob@127.0.0.1:" + std::to_string(bob_->local_port()) + " SIP/2.0\r\n";
    text += "Via: SIP/2.0/UDP 127.0.0.1:" + port + ";rport;branch=z9hG4bK" + call_id + "\r\n";
    text += "Max-Forwards: 70\r\n";
    text += "From: <sip:mallory@127.0.0.1>;tag=m" + call_id + "\r\n";
    text += "To: <sip:bob@127.0.0.1>\r\n";
    if (!call_id.empty()) text += "Call-ID: " + call_id + "\r\n";
    text += "CSeq: " + std::to_string(cseq) + " " + method + "\r\n";
    text += "Contact: <sip:mallory@127.0.0.1:" + port + ">\r\n";
    text += extra;
    text += "Content-Length: " + content_length + "\r\n\r\n" + body;
    return text;
  }

  asio::io_context io_;
  Recorder b_;
  std::unique_ptr<UserAgent> bob_;
  asio::ip::udp::socket raw_{io_};
};

TEST_F(SipUaRawTest, BadRequestsAreAnsweredAndThePeerStillServed) {
  // No Call-ID: 400.
  std::string no_call_id = request("MESSAGE", "", 1, "Content-Type: text/plain\r\n", "hi");
  no_call_id.replace(no_call_id.find("branch=z9hG4bK"), 14, "branch=z9hG4bKnocallid");
  send(no_call_id);
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 400");
  // Content-Length larger than the datagram: 400 (RFC 3261 §18.3).
  send(request("INVITE", "toolong1", 1, "Content-Type: application/sdp\r\n", "v=0\r\n", "5000"));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 400");
  // Garbage.
  send("\x01\x02 not sip at all\r\n\r\n");
  // The same source is still answered.
  send(request("OPTIONS", "opt1", 1));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 200");
  send(request("MESSAGE", "msg1", 1, "Content-Type: text/plain\r\n", "still here"));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 200");
  ASSERT_TRUE(wait([&] { return !b_.messages.empty(); }));
  EXPECT_EQ(b_.messages[0].body, "still here");
  EXPECT_EQ(b_.messages[0].from, "sip:mallory@127.0.0.1");
}

TEST_F(SipUaRawTest, UnknownDialogAndMethods) {
  std::string bye = request("BYE", "nodialog", 2);
  bye.replace(bye.find("To: <sip:bob@127.0.0.1>"), 23, "To: <sip:bob@127.0.0.1>;tag=nope");
  send(bye);
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 481");
  send(request("SUBSCRIBE", "sub1", 1, "Event: presence\r\n"));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 405");
}

TEST_F(SipUaRawTest, InviteFloodGetsBusyBeyondEightRinging) {
  for (int i = 0; i < 8; ++i) {
    send(request("INVITE", "flood" + std::to_string(i), 1, "Content-Type: application/sdp\r\n",
                 "v=0\r\n"));
    EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 100");
  }
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 8; }));
  send(request("INVITE", "flood8", 1, "Content-Type: application/sdp\r\n", "v=0\r\n"));
  EXPECT_EQ(next_response(), "SIP/2.0 486 Busy Here");
  EXPECT_EQ(b_.incoming.size(), 8u);
  // Declining one makes room again.
  ASSERT_TRUE(bob_->reject(b_.incoming.front(), 603).has_value());
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 603");
  send(request("INVITE", "flood9", 1, "Content-Type: application/sdp\r\n", "v=0\r\n"));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 100");
}

TEST_F(SipUaRawTest, InviteWithoutOfferGetsItsAnswerInTheAck) {
  send(request("INVITE", "nooffer", 1));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 100");
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 1; }));
  EXPECT_EQ(b_.incoming_offer[b_.incoming[0]], "");
  ASSERT_TRUE(bob_->answer(b_.incoming[0], "v=0 bob-offer\r\n").has_value());
  auto ok = next_message();
  ASSERT_EQ(ok.substr(0, 11), "SIP/2.0 200");
  EXPECT_NE(ok.find("v=0 bob-offer"), std::string::npos);
  auto to = header(ok, "To");
  ASSERT_NE(to.find("tag="), std::string::npos);
  auto ack = request("ACK", "nooffer", 1, "Content-Type: application/sdp\r\n", "v=0 my-answer\r\n");
  ack.replace(ack.find("z9hG4bKnooffer"), 14, "z9hG4bKnooffer-ack");
  ack.replace(ack.find("To: <sip:bob@127.0.0.1>"), 23, "To: " + to);
  send(ack);
  ASSERT_TRUE(wait([&] { return b_.connected.count(b_.incoming[0]) > 0; }));
  EXPECT_EQ(b_.connected[b_.incoming[0]], "v=0 my-answer\r\n");
}

TEST_F(SipUaRawTest, AnswerNeverAcknowledgedEndsTheCallWithBye) {
  send(request("INVITE", "noack", 1, "Content-Type: application/sdp\r\n", "v=0\r\n"));
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 100");
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 1; }));
  ASSERT_TRUE(bob_->answer(b_.incoming[0], "v=0 bob\r\n").has_value());
  // The 200 comes again and again (no ACK), then a BYE, and the call ends.
  int oks = 0;
  std::string bye;
  ASSERT_TRUE(wait([&] {
    auto text = next_message();
    if (text.rfind("SIP/2.0 200", 0) == 0) ++oks;
    if (text.rfind("BYE ", 0) == 0) bye = text;
    return !bye.empty();
  }));
  EXPECT_GE(oks, 3);
  ASSERT_TRUE(wait([&] { return b_.ended.count(b_.incoming[0]) > 0; }));
  EXPECT_EQ(b_.ended[b_.incoming[0]].reason, EndReason::failed);
}

TEST_F(SipUaRawTest, CancelOfARingingCall) {
  auto invite = request("INVITE", "tocancel", 1, "Content-Type: application/sdp\r\n", "v=0\r\n");
  send(invite);
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 100");
  ASSERT_TRUE(wait([&] { return b_.incoming.size() == 1; }));
  ASSERT_TRUE(bob_->ring(b_.incoming[0]).has_value());
  EXPECT_EQ(next_response().substr(0, 11), "SIP/2.0 180");
  send(request("CANCEL", "tocancel", 1));
  std::set<std::string> got;
  got.insert(next_response().substr(0, 11));
  got.insert(next_response().substr(0, 11));
  EXPECT_TRUE(got.count("SIP/2.0 200"));
  EXPECT_TRUE(got.count("SIP/2.0 487"));
  ASSERT_TRUE(wait([&] { return b_.ended.count(b_.incoming[0]) > 0; }));
  EXPECT_EQ(b_.ended[b_.incoming[0]].reason, EndReason::cancelled);
}

TEST(SipServerLookup, LiteralsAndReservedNamesNeedNoDns) {
  auto literal = lookup_sip_server("127.0.0.1", 0, Transport::udp, false);
  ASSERT_TRUE(literal.has_value());
  ASSERT_EQ(literal->size(), 1u);
  EXPECT_EQ(literal->front().address.to_string(), "127.0.0.1");
  EXPECT_EQ(literal->front().port, 5060);
  auto tls = lookup_sip_server("[::1]", 0, Transport::tls, false);
  ASSERT_TRUE(tls.has_value());
  EXPECT_TRUE(tls->front().address.is_v6());
  EXPECT_EQ(tls->front().port, 5061);
  auto local = lookup_sip_server("localhost", 5080, Transport::tcp, false);
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->front().port, 5080);
  EXPECT_FALSE(lookup_sip_server("sip.example.invalid", 0, Transport::udp, false).has_value());
}

TEST(SipUri, Normalize) {
  EXPECT_EQ(*normalize_uri("bob@example.org", "x.org"), "sip:bob@example.org");
  EXPECT_EQ(*normalize_uri("<sip:bob@example.org>", "x.org"), "sip:bob@example.org");
  EXPECT_EQ(*normalize_uri("bob", "x.org"), "sip:bob@x.org");
  EXPECT_EQ(*normalize_uri("sips:bob@example.org", "x.org"), "sips:bob@example.org");
  EXPECT_FALSE(normalize_uri("", "x.org").has_value());
  EXPECT_FALSE(normalize_uri("http://example.org", "x.org").has_value());
  EXPECT_FALSE(normalize_uri("bob smith@x.org", "x.org").has_value());
}

// Whoever we message (or call) may answer with a digest challenge of their
// own; answering it would hand them a hash of our password to crack offline.
TEST_F(SipUaRawTest, AChallengeFromAnotherRealmGetsNoProofOfThePassword) {
  auto to = "sip:mallory@127.0.0.1:" + std::to_string(raw_.local_endpoint().port());
  auto id = bob_->send_message(to, "hello");
  ASSERT_TRUE(id.has_value());
  std::string message = next_message();
  ASSERT_EQ(message.rfind("MESSAGE ", 0), 0u) << message;
  std::string challenge = "SIP/2.0 407 Proxy Authentication Required\r\n";
  for (const char* name : {"Via", "From", "To", "Call-ID", "CSeq"})
    challenge += std::string(name) + ": " + header(message, name) + "\r\n";
  challenge +=
      "Proxy-Authenticate: Digest realm=\"mallory.example\", nonce=\"abc\", qop=\"auth\"\r\n"
      "Content-Length: 0\r\n\r\n";
  send(challenge);
  ASSERT_TRUE(wait([&] { return b_.message_results.count(*id) > 0; }));
  EXPECT_FALSE(b_.message_results.at(*id).has_value());
  // Nothing more comes: no second MESSAGE carrying Proxy-Authorization.
  std::string more = next_message(1000ms);
  EXPECT_EQ(more.find("Authorization"), std::string::npos) << more;
}

// Connections peers open to us are capped: the 65th is closed at once, and
// the ones before it keep working.
TEST(SipUaConnections, PeersCannotOpenConnectionsWithoutEnd) {
  asio::io_context io;
  Recorder recorder;
  UserAgent agent(io.get_executor(), config_for("bob", Transport::tcp), recorder);
  agent.start();
  asio::ip::tcp::endpoint to(asio::ip::make_address("127.0.0.1"), agent.local_port());
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> peers;
  for (int i = 0; i < 65; ++i) {
    auto socket = std::make_unique<asio::ip::tcp::socket>(io);
    socket->connect(to);  // the kernel's backlog takes it; the agent accepts it below
    socket->non_blocking(true);
    peers.push_back(std::move(socket));
  }
  auto closed = [&] {
    std::size_t count = 0;
    for (auto& socket : peers) {
      std::array<char, 16> buffer;
      std::error_code ec;
      socket->read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::eof || ec == asio::error::connection_reset) ++count;
    }
    return count;
  };
  run_until(io, [&] { return closed() > 0; });
  io.run_for(100ms);
  EXPECT_EQ(closed(), 1u);
  // The ones it kept are served: an OPTIONS over one of them is answered.
  std::string options =
      "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKcap1\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:peer@127.0.0.1>;tag=p\r\nTo: <sip:bob@127.0.0.1>\r\n"
      "Call-ID: cap1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  asio::write(*peers.front(), asio::buffer(options));
  std::string answer;
  run_until(io, [&] {
    std::array<char, 4096> buffer;
    std::error_code ec;
    auto n = peers.front()->read_some(asio::buffer(buffer), ec);
    if (!ec) answer.append(buffer.data(), n);
    return answer.find("\r\n\r\n") != std::string::npos;
  });
  EXPECT_EQ(answer.rfind("SIP/2.0 200", 0), 0u) << answer;
  bool stopped = false;
  agent.stop([&] { stopped = true; });
  run_until(io, [&] { return stopped; });
}

}  // namespace
}  // namespace sotto::sip
