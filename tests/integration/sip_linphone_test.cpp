// Interoperability with linphonec (Debian linphone-cli, headless) through a
// real Kamailio, media encryption off (issue 6): Sotto calls linphonec and
// linphonec calls Sotto; both see the call connected and ended.
#include <gtest/gtest.h>

#include <string>

#include "harness/linphone.h"
#include "sotto_on_kamailio.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class SipLinphone : public SottoOnKamailio {
 protected:
  // A linphonec registered at the suite's Kamailio as a new user.
  static std::unique_ptr<Linphone> linphone(const std::string& name) {
    const std::string user = unique(name);
    const std::string password = "Pw-" + unique("lin");
    kamailio_->add_user(user, password);
    auto peer = std::make_unique<Linphone>(
        LinphoneOptions{.user = user, .password = password, .proxy_port = kamailio_->udp_port()});
    peer->wait_registered(15s);
    EXPECT_TRUE(kamailio_->wait_registered(user, 5s));
    return peer;
  }

  static std::string peer_address(const Linphone& peer) {
    return peer.address().substr(4);  // without "sip:"
  }
};

// The harness itself: two linphonecs call each other through Kamailio (GRUU
// contacts, record-route): connected and ended on both sides.
TEST_F(SipLinphone, TwoLinphonecsCallEachOtherThroughKamailio) {
  auto alice = linphone("lalice");
  auto bob = linphone("lbob");
  alice->command("call " + bob->address());
  bob->wait_for("Receiving new incoming call from", 15s);
  alice->wait_for(R"(Call \d+ to \S+ ringing)", 10s);
  bob->command("answer");
  alice->wait_for(R"(Call \d+ with \S+ connected)", 10s);
  bob->wait_for(R"(Call \d+ with \S+ connected)", 10s);
  alice->command("terminate all");
  alice->wait_for(R"(Call \d+ with \S+ ended)", 10s);
  bob->wait_for(R"(Call \d+ with \S+ ended)", 10s);
}

TEST_F(SipLinphone, SottoCallsLinphonec) {
  SottoUser alice = online("alice");
  auto bob = linphone("lbob");
  json started =
      alice.rpc->call("call.start", {{"account", alice.address}, {"to", peer_address(*bob)}});
  const std::string id = started.value("id", "");
  bob->wait_for("Receiving new incoming call from", 15s);
  wait_call_state(alice, id, "ringing");
  bob->command("answer");
  bob->wait_for(R"(Call \d+ with \S+ connected)", 10s);
  json active = wait_call_state(alice, id, "active");
  EXPECT_FALSE(active.value("codec", "").empty()) << active.dump();
  EXPECT_EQ(active.value("peer", ""), peer_address(*bob)) << active.dump();

  alice.rpc->call("call.hangup", {{"id", id}});
  bob->wait_for(R"(Call \d+ with \S+ ended)", 10s);
  EXPECT_EQ(wait_call_state(alice, id, "ended").value("end_reason", ""), "hung_up");
}

TEST_F(SipLinphone, LinphonecCallsSotto) {
  SottoUser alice = online("alice");
  auto bob = linphone("lbob");
  bob->command("call sip:" + alice.address);
  json incoming = wait_call(alice, [&](const json& c) {
    return c.value("state", "") == "incoming" && c.value("peer", "") == peer_address(*bob);
  });
  bob->wait_for(R"(Call \d+ to \S+ ringing)", 10s);
  alice.rpc->call("call.answer", {{"id", incoming.value("id", "")}});
  bob->wait_for(R"(Call \d+ with \S+ connected)", 10s);
  json active = wait_call_state(alice, incoming.value("id", ""), "active");
  EXPECT_FALSE(active.value("codec", "").empty()) << active.dump();

  bob->command("terminate all");
  bob->wait_for(R"(Call \d+ with \S+ ended)", 10s);
  json ended = wait_call_state(alice, incoming.value("id", ""), "ended");
  EXPECT_EQ(ended.value("end_reason", ""), "remote_hung_up") << ended.dump();
}

TEST_F(SipLinphone, LinphonecCancelsAndSottoDeclines) {
  SottoUser alice = online("alice");
  auto bob = linphone("lbob");
  // linphonec gives up while it rings at Sotto.
  bob->command("call sip:" + alice.address);
  json incoming =
      wait_call(alice, [&](const json& c) { return c.value("state", "") == "incoming"; });
  bob->wait_for(R"(Call \d+ to \S+ ringing)", 10s);
  bob->command("terminate all");
  EXPECT_EQ(wait_call_state(alice, incoming.value("id", ""), "ended").value("end_reason", ""),
            "cancelled");
  // Sotto declines the next one; linphonec sees it end.
  bob->command("call sip:" + alice.address);
  json second = wait_call(alice, [&](const json& c) { return c.value("state", "") == "incoming"; });
  alice.rpc->call("call.reject", {{"id", second.value("id", "")}, {"busy", true}});
  bob->wait_for(R"((Call \d+ with \S+ ended)|(busy)|(Busy))", 10s);
}

TEST_F(SipLinphone, MessagesBothWaysWithLinphonec) {
  SottoUser alice = online("alice");
  auto bob = linphone("lbob");
  send_message(alice, peer_address(*bob), "hello linphonec");
  bob->wait_for("hello linphonec", 10s);
  bob->command("chat sip:" + alice.address + " hello sotto");
  json got = wait_message(alice, "hello sotto");
  EXPECT_EQ(got.value("peer", ""), peer_address(*bob)) << got.dump();
}

}  // namespace
}  // namespace sotto::test
