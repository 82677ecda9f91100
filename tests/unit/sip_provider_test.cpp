// SIP accounts in the engine without a network: what is accepted as a SIP
// account and how it is kept, and the words calls end with.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "harness/prosody.h"  // TempDir
#include "sotto/app/app.h"
#include "sotto/app/sip_provider.h"

namespace sotto::app {
namespace {

// An engine with a new profile (its key in a file: no keyring in tests).
class SipAccounts : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("DBUS_SESSION_BUS_ADDRESS", "", 1);
    engine_ = make_engine();
    std::optional<Result<void>> created;
    engine_->create_profile(std::nullopt, [&](Result<void> r) { created = std::move(r); });
    auto work = asio::make_work_guard(io_);  // the key is made on a thread of its own
    while (!created) io_.run_one();
    ASSERT_TRUE(*created) << created->error().message;
  }

  std::unique_ptr<Engine> make_engine() {
    auto engine = std::make_unique<Engine>(io_, "test", home_.path());
    EXPECT_TRUE(engine->open());
    return engine;
  }

  static AccountSettings sip(std::string address, std::string transport = "udp") {
    AccountSettings settings;
    settings.protocol = "sip";
    settings.address = std::move(address);
    settings.transport = std::move(transport);
    return settings;
  }

  test::TempDir home_{"sotto-sip-unit"};
  asio::io_context io_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(SipAccounts, AddressIsUserAtDomainWithoutTheScheme) {
  AccountSettings settings = sip("sip:Alice@SIP.Example.ORG", "TCP");
  settings.auth_user = "alice-1234";
  settings.host = "127.0.0.1";
  settings.port = 5080;
  ASSERT_TRUE(engine_->add_account(settings, "pw"));
  auto accounts = engine_->accounts();
  ASSERT_EQ(accounts.size(), 1u);
  // The user keeps its case (SIP users are case-sensitive), the domain does not.
  EXPECT_EQ(accounts[0].address, "Alice@sip.example.org");
  EXPECT_EQ(accounts[0].protocol, "sip");
  EXPECT_EQ(accounts[0].transport, "tcp");

  // Kept in the profile: another engine on the same profile reads it back.
  engine_.reset();
  auto again = make_engine();
  accounts = again->accounts();
  ASSERT_EQ(accounts.size(), 1u);
  EXPECT_EQ(accounts[0].address, "Alice@sip.example.org");
  EXPECT_EQ(accounts[0].protocol, "sip");
  EXPECT_EQ(accounts[0].transport, "tcp");
  EXPECT_EQ(accounts[0].auth_user, "alice-1234");
  EXPECT_EQ(accounts[0].host, "127.0.0.1");
  EXPECT_EQ(accounts[0].port, 5080);
}

TEST_F(SipAccounts, BadSettingsAreRefusedInWords) {
  for (const char* address : {"alice", "@example.org", "alice@", "a b@example.org",
                              "alice@example.org:5060", "<sip:alice@example.org>"}) {
    auto added = engine_->add_account(sip(address), "pw");
    ASSERT_FALSE(added) << address;
    EXPECT_EQ(added.error().code, Errc::invalid_argument) << address;
  }
  auto transport = engine_->add_account(sip("alice@example.org", "sctp"), "pw");
  ASSERT_FALSE(transport);
  EXPECT_EQ(transport.error().code, Errc::invalid_argument);
  AccountSettings direct = sip("alice@example.org");
  direct.direct_tls = true;
  EXPECT_FALSE(engine_->add_account(direct, "pw"));
  AccountSettings other = sip("alice@example.org");
  other.protocol = "irc";
  auto unknown = engine_->add_account(other, "pw");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::not_supported);
  EXPECT_TRUE(engine_->accounts().empty());
}

TEST_F(SipAccounts, AddressesAreUniqueAcrossProtocols) {
  ASSERT_TRUE(engine_->add_account(sip("alice@example.org"), "pw"));
  AccountSettings xmpp;
  xmpp.address = "Alice@Example.org";
  auto added = engine_->add_account(xmpp, "pw");
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, Errc::already_exists);
}

TEST_F(SipAccounts, RegistrationAndPasswordChangeAreXmppOnly) {
  std::optional<Result<void>> registered;
  engine_->register_account(sip("bob@example.org"), "pw",
                            [&](Result<void> r) { registered = std::move(r); });
  ASSERT_TRUE(registered);
  ASSERT_FALSE(*registered);
  EXPECT_EQ(registered->error().code, Errc::not_supported);
  EXPECT_NE(registered->error().message.find("provider"), std::string::npos)
      << registered->error().message;
  EXPECT_TRUE(engine_->accounts().empty());
}

TEST_F(SipAccounts, CallsNeedAnAccountOnline) {
  ASSERT_TRUE(engine_->add_account(sip("alice@example.org"), "pw"));
  auto call = engine_->call("alice@example.org", "bob@example.org");
  ASSERT_FALSE(call);
  EXPECT_EQ(call.error().code, Errc::not_connected);
  auto none = engine_->answer_call("no-such-call");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::not_found);
  EXPECT_TRUE(engine_->calls().empty());
}

TEST(SipWords, EndReasonsMapOneToOne) {
  EXPECT_EQ(to_call_end_reason(sip::EndReason::local_hangup), CallEndReason::hung_up);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::remote_hangup), CallEndReason::remote_hung_up);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::cancelled), CallEndReason::cancelled);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::busy), CallEndReason::busy);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::declined), CallEndReason::declined);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::no_answer), CallEndReason::no_answer);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::not_found), CallEndReason::not_found);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::unacceptable), CallEndReason::unacceptable);
  EXPECT_EQ(to_call_end_reason(sip::EndReason::failed), CallEndReason::failed);
}

TEST(SipWords, HistoryReasonsReadLikeSpeech) {
  EXPECT_EQ(end_text(CallEndReason::busy, true), "busy");
  EXPECT_EQ(end_text(CallEndReason::hung_up, true), "hung up");
  EXPECT_EQ(end_text(CallEndReason::no_answer, true), "no answer");
  EXPECT_EQ(end_text(CallEndReason::unacceptable, false), "no audio format in common");
  // The callee of a call the caller gave up on missed it.
  EXPECT_NE(end_text(CallEndReason::cancelled, false).find("missed"), std::string::npos);
  EXPECT_EQ(to_string(CallEndReason::remote_hung_up), "remote_hung_up");
  EXPECT_EQ(to_string(CallState::incoming), "incoming");
}

TEST(SipWords, PeerAddressesComeWithoutSchemeOrParameters) {
  EXPECT_EQ(peer_address("sip:bob@example.org"), "bob@example.org");
  EXPECT_EQ(peer_address("sips:Bob@Example.ORG:5061;transport=tls"), "Bob@example.org");
  EXPECT_EQ(peer_address("\"Bob\" <sip:bob@example.org>;tag=1"), "bob@example.org");
  EXPECT_EQ(peer_address("sip:bob@[::1]:5060"), "bob@[::1]");
  EXPECT_EQ(peer_address("bob@example.org"), "bob@example.org");
  EXPECT_EQ(peer_address("sip:example.org"), "example.org");
}

TEST(SipWords, CodecText) {
  EXPECT_EQ(codec_text({0, "PCMU", 8000, 1, ""}), "PCMU/8000");
  EXPECT_EQ(codec_text({96, "opus", 48000, 2, "useinbandfec=1"}), "opus/48000/2");
}

}  // namespace
}  // namespace sotto::app
