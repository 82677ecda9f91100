// Sotto and a real third-party client, profanity 0.13.1 (tests/harness/profanity.h),
// on the same private Prosody: plain (unencrypted) chat both ways.
#include <gtest/gtest.h>

#include <unistd.h>

#include <iostream>

#include "harness/profanity.h"
#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Non-ASCII on purpose: accents, a dash, CJK, an emoji outside the BMP.
constexpr const char* kToSotto = "Grüße aus profanity — 日本語 ✓ 🦊";
constexpr const char* kToProfanity = "Привет from Sotto — ça marche? 🎉";

class ProfanityInterop : public SottoOnProsody {
 protected:
  using User = SottoUser;

  // A new account (created with prosodyctl) logged in with profanity.
  static std::unique_ptr<Profanity> profanity_user(std::string_view name) {
    return profanity_for_new_account(*server_, unique(name));
  }
};

TEST_F(ProfanityInterop, ProfanityMessageArrivesInSotto) {
  User alice = registered_online("alice");
  auto pat = profanity_user("pat");

  pat->send(alice.address, kToSotto);
  json sent = pat->wait_event([](const json& e) { return e.value("event", "") == "message.sent"; });
  EXPECT_EQ(sent["to"], alice.address);
  EXPECT_EQ(sent["body"], kToSotto);

  json received = wait_message(alice, kToSotto, 10s);
  EXPECT_EQ(received["peer"], pat->jid());
  EXPECT_FALSE(received.value("outgoing", true));
}

TEST_F(ProfanityInterop, SottoMessageArrivesInProfanity) {
  User alice = registered_online("alice");
  auto pat = profanity_user("pat");

  alice.rpc->call("message.send",
                  {{"account", alice.address}, {"to", pat->jid()}, {"body", kToProfanity}});
  json received = pat->wait_message(alice.address, kToProfanity);
  EXPECT_FALSE(received.value("resource", "").empty());

  // The plugin saw the plain stanza too (no encryption in this test), and the
  // screen shows the new chat window.
  pat->wait_event([&](const json& e) {
    return e.value("event", "") == "stanza.received" && e.value("kind", "") == "message" &&
           e.value("stanza", "").find(kToProfanity) != std::string::npos;
  });
  pat->wait_screen(std::regex("chat message: " + alice.address));
}

TEST_F(ProfanityInterop, ConversationBothWays) {
  User alice = registered_online("alice");
  auto pat = profanity_user("pat");

  pat->send(alice.address, "first from profanity");
  EXPECT_EQ(wait_message(alice, "first from profanity", 10s)["peer"], pat->jid());

  alice.rpc->call("message.send",
                  {{"account", alice.address}, {"to", pat->jid()}, {"body", kToProfanity}});
  pat->wait_message(alice.address, kToProfanity);

  // The chat window is open and focused now: a plain line is a message.
  pat->command(kToSotto);
  EXPECT_EQ(wait_message(alice, kToSotto, 10s)["peer"], pat->jid());
}

// The harness itself: a refused login is an error at once, not a timeout.
TEST_F(ProfanityInterop, AWrongPasswordFailsTheStart) {
  std::string local = unique("pat");
  server_->register_user(local, "right");
  auto started = std::chrono::steady_clock::now();
  try {
    Profanity pat(*server_, local, "wrong");
    FAIL() << "logged in with a wrong password";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("login failed"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

// The harness reads what the plugin API cannot see from the screen.
TEST_F(ProfanityInterop, OtrFingerprintIsReadFromTheScreen) {
  auto pat = profanity_user("pat");
  std::string fingerprint = pat->otr_fingerprint();  // generates the key
  EXPECT_TRUE(std::regex_match(fingerprint, std::regex("([0-9A-F]{8} ){4}[0-9A-F]{8}")))
      << fingerprint;
  EXPECT_EQ(pat->otr_fingerprint(), fingerprint);
}

TEST_F(ProfanityInterop, ProfanityAuthorizesSottoAndAcknowledgesDelivery) {
  User alice = registered_online("alice");
  auto pat = profanity_user("pat");

  alice.rpc->call("contact.add", {{"account", alice.address}, {"address", pat->jid()}});
  pat->wait_event([&](const json& e) {
    const std::string stanza = e.value("stanza", "");
    return e.value("event", "") == "stanza.received" && e.value("kind", "") == "presence" &&
           stanza.find("type=\"subscribe\"") != std::string::npos &&
           stanza.find(alice.address) != std::string::npos;
  });
  pat->command("/sub allow " + alice.address);
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "contact.changed" &&
           e["contact"].value("address", "") == pat->jid() &&
           e["contact"].value("subscription", "") == "to";
  });

  // profanity answers receipt requests (XEP-0184) by default.
  json sent = alice.rpc->call(
      "message.send", {{"account", alice.address}, {"to", pat->jid()}, {"body", kToProfanity}});
  pat->wait_message(alice.address, kToProfanity);
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == sent["id"] &&
           e.value("state", "") == "delivered";
  });
}

}  // namespace
}  // namespace sotto::test
