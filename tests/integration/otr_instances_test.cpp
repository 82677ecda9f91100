// OTR v3 instance tags: a contact logged in from two Sotto clients (two
// devices, each with its own key) holds a private conversation from each,
// and the user sees which device each message and padlock state is about.
#include <gtest/gtest.h>

#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using namespace std::chrono_literals;

class OtrInstances : public SottoOnProsody {
 protected:
  using json = nlohmann::json;

  // Another device of `user`: its own profile (and so its own OTR key and
  // instance tag), the same account.
  static SottoUser second_device(const SottoUser& user) {
    SottoUser device;
    device.home = std::make_unique<TempDir>("sotto-user");
    device.address = user.address;
    device.password = user.password;
    start_rpc(device);
    device.rpc->call("account.add", server_params(device.address, device.password));
    connect(device);
    return device;
  }

  static std::string fingerprint(SottoUser& user) {
    return user.rpc->call("otr.fingerprint", {{"account", user.address}})["fingerprint"];
  }

  static void wait_key(SottoUser& user) {
    if (user.rpc->call("otr.fingerprint", {{"account", user.address}})["fingerprint"].is_null()) {
      user.rpc->wait_event([](const json& e) {
        return e.value("type", "") == "otr.key" && e.value("stage", "") == "ready";
      });
    }
  }

  // The next padlock change `user` sees for `peer` that is private.
  static json wait_private(SottoUser& user, const std::string& peer) {
    return user.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "otr.privacy" && e.value("peer", "") == peer &&
             e.value("privacy", "") == "unverified";
    });
  }

  static json wait_text(SottoUser& user, const std::string& body) {
    return user.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "message.received" && e.value("body", "") == body;
    });
  }

  // A device's own resource: of the account's resources it hears about (its
  // own and the other devices'), the first that is not `other`.
  static std::string resource_of(SottoUser& user, const std::string& other = {}) {
    json presence = user.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "presence" && e.value("address", "") == user.address &&
             e.value("availability", "") != "offline" && e.value("resource", "") != other;
    });
    return presence["resource"];
  }
};

TEST_F(OtrInstances, AContactOnTwoClientsTalksPrivatelyFromEach) {
  SottoUser alice = registered_online("alice");
  SottoUser laptop = registered_online("bob");
  befriend(alice, laptop);
  SottoUser phone = second_device(laptop);
  for (SottoUser* user : {&alice, &laptop, &phone}) wait_key(*user);
  const std::string laptop_fp = fingerprint(laptop);
  const std::string phone_fp = fingerprint(phone);
  ASSERT_NE(laptop_fp, phone_fp) << "two devices, two keys";
  const std::string laptop_resource = resource_of(laptop);
  const std::string phone_resource = resource_of(phone, laptop_resource);
  ASSERT_NE(laptop_resource, phone_resource);

  // From the laptop.
  laptop.rpc->call("otr.start", {{"account", laptop.address}, {"peer", alice.address}});
  json first = wait_private(alice, laptop.address);
  EXPECT_EQ(first["version"], 3);
  EXPECT_EQ(first["resource"], laptop_resource);
  const std::uint32_t laptop_instance = first["instance"];
  EXPECT_NE(laptop_instance, 0u);
  wait_private(laptop, alice.address);
  laptop.rpc->call(
      "message.send",
      {{"account", laptop.address}, {"to", alice.address}, {"body", "from the laptop"}});
  json got = wait_text(alice, "from the laptop");
  EXPECT_TRUE(got["encrypted"]);
  EXPECT_EQ(got["resource"], laptop_resource);

  // Then from the phone: another instance, and another key, which Alice is
  // told about.
  phone.rpc->call("otr.start", {{"account", phone.address}, {"peer", alice.address}});
  json second = wait_private(alice, phone.address);
  EXPECT_EQ(second["resource"], phone_resource);
  const std::uint32_t phone_instance = second["instance"];
  EXPECT_NE(phone_instance, 0u);
  EXPECT_NE(phone_instance, laptop_instance) << "Alice cannot tell the two clients apart";
  json changed =
      alice.rpc->wait_event([](const json& e) { return e.value("type", "") == "otr.key.changed"; });
  EXPECT_EQ(changed["fingerprint"], phone_fp);
  wait_private(phone, alice.address);
  phone.rpc->call("message.send",
                  {{"account", phone.address}, {"to", alice.address}, {"body", "from the phone"}});
  got = wait_text(alice, "from the phone");
  EXPECT_TRUE(got["encrypted"]);
  EXPECT_EQ(got["resource"], phone_resource);

  // Alice answers the device she heard from last: the phone reads it, and
  // the laptop is not sent something it cannot read.
  json sent = alice.rpc->call(
      "message.send", {{"account", alice.address}, {"to", laptop.address}, {"body", "hi phone"}});
  EXPECT_TRUE(sent["encrypted"]);
  got = wait_text(phone, "hi phone");
  EXPECT_TRUE(got["encrypted"]);

  // The laptop's session is still there: it writes again, privately.
  laptop.rpc->call("message.send",
                   {{"account", laptop.address}, {"to", alice.address}, {"body", "laptop again"}});
  got = wait_text(alice, "laptop again");
  EXPECT_TRUE(got["encrypted"]);
  EXPECT_EQ(got["resource"], laptop_resource);

  // Nothing that went through the server was plain text.
  for (const LoggedMessage& m : parse_logged_messages(server_log_since(0))) {
    if (!m.body) continue;
    for (const char* text : {"from the laptop", "from the phone", "hi phone", "laptop again"}) {
      EXPECT_EQ(m.body->find(text), std::string::npos) << "plain on the wire: " << *m.body;
    }
  }
  for (const json& e : laptop.rpc->events_seen()) {
    EXPECT_FALSE(e.value("type", "") == "message.received" && e.value("body", "") == "hi phone")
        << "the laptop was sent the phone's message";
  }
}

}  // namespace
}  // namespace sotto::test
