// Sotto against a real Prosody started by the test on 127.0.0.1, driven the
// way a front end drives it: through `sotto rpc`.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class XmppChat : public SottoOnProsody {
 protected:
  using User = SottoUser;
};

// Groups are a set: the server may return them in any order.
json sorted(json groups) {
  std::sort(groups.begin(), groups.end());
  return groups;
}

TEST_F(XmppChat, TwoNewAccountsAddEachOtherAndChatWithReceipts) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");

  alice.rpc->call("contact.add", {{"account", alice.address},
                                  {"address", bob.address},
                                  {"name", "Bob"},
                                  {"groups", {"Friends"}}});
  json pending = wait_contact(alice, bob.address, [](const json& c) {
    return c.value("waiting_for_authorization", false);
  });
  EXPECT_EQ(pending["contact"]["name"], "Bob");
  EXPECT_EQ(pending["contact"]["groups"], json::array({"Friends"}));

  wait_request(bob, alice.address);
  bob.rpc->call("contact.authorize", {{"account", bob.address}, {"address", alice.address}});

  // Bob authorized Alice and asked back; Alice authorizes Bob in turn.
  wait_request(alice, bob.address);
  alice.rpc->call("contact.authorize", {{"account", alice.address}, {"address", bob.address}});
  wait_contact(alice, bob.address,
               [](const json& c) { return c.value("subscription", "") == "both"; });
  wait_contact(bob, alice.address,
               [](const json& c) { return c.value("subscription", "") == "both"; });

  json sent = alice.rpc->call(
      "message.send", {{"account", alice.address}, {"to", bob.address}, {"body", "hello Bob"}});
  json received = wait_message(bob, "hello Bob");
  EXPECT_EQ(received["peer"], alice.address);
  EXPECT_EQ(received["id"], sent["id"]);
  EXPECT_FALSE(received.value("outgoing", true));
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == sent["id"] &&
           e.value("state", "") == "delivered";
  });

  json reply = bob.rpc->call(
      "message.send", {{"account", bob.address}, {"to", alice.address}, {"body", "hi Alice"}});
  EXPECT_EQ(wait_message(alice, "hi Alice")["peer"], bob.address);
  bob.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == reply["id"] &&
           e.value("state", "") == "delivered";
  });

  json contacts = alice.rpc->call("contact.list", {{"account", alice.address}});
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0]["address"], bob.address);
  EXPECT_EQ(contacts[0]["subscription"], "both");
  EXPECT_EQ(contacts[0]["availability"], "available");
}

TEST_F(XmppChat, ADeniedRequestIsReportedAndLeavesNoSubscription) {
  User alice = registered_online("alice");
  User carol = registered_online("carol");
  carol.rpc->call("contact.add", {{"account", carol.address}, {"address", alice.address}});
  wait_request(alice, carol.address);
  alice.rpc->call("contact.deny", {{"account", alice.address}, {"address", carol.address}});
  carol.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "authorization.denied" && e.value("address", "") == alice.address;
  });
  wait_contact(carol, alice.address, [](const json& c) {
    return !c.value("waiting_for_authorization", true) && c.value("subscription", "") == "none";
  });
}

TEST_F(XmppChat, AnIgnoredRequestComesBackAtTheNextLogin) {
  User alice = registered_online("alice");
  User dave = registered_online("dave");
  dave.rpc->call("contact.add", {{"account", dave.address}, {"address", alice.address}});
  wait_request(alice, dave.address);
  // Alice neither authorizes nor denies, and goes offline.
  alice.rpc->call("account.disconnect", {{"address", alice.address}});
  connect(alice);
  wait_request(alice, dave.address);
  json requests = alice.rpc->call("contact.requests", {{"account", alice.address}});
  EXPECT_EQ(requests, json::array({dave.address}));
}

TEST_F(XmppChat, ChangedPasswordLogsInAndTheOldOneNoLongerDoes) {
  User alice = registered_online("alice");
  alice.rpc->call("account.passwd", {{"address", alice.address}, {"new_password", "n3w-Secret"}});
  alice.rpc->call("account.disconnect", {{"address", alice.address}});
  connect(alice);  // the remembered password was updated
  alice.rpc->call("account.disconnect", {{"address", alice.address}});

  json old = alice.rpc->call_raw(
      "account.connect",
      {{"address", alice.address}, {"password", alice.password}, {"wait", true}});
  ASSERT_TRUE(old.contains("error")) << old.dump();
  EXPECT_EQ(old["error"]["data"]["errc"], "auth");
}

TEST_F(XmppChat, TakenNameAndMissingRegistrationAreClearErrors) {
  User alice = registered_online("alice");
  User other = start_user("other");
  json taken = other.rpc->call_raw("account.register", server_params(alice.address, "whatever"));
  ASSERT_TRUE(taken.contains("error")) << taken.dump();
  EXPECT_EQ(taken["error"]["data"]["errc"], "conflict");
  EXPECT_NE(taken["error"]["message"].get<std::string>().find("the name is taken"),
            std::string::npos);

  Prosody closed(ProsodyOptions{.allow_registration = false});
  json refused = other.rpc->call_raw("account.register", {{"address", "newbie@" + closed.domain()},
                                                          {"password", "x"},
                                                          {"host", "127.0.0.1"},
                                                          {"port", closed.c2s_port()},
                                                          {"pin", closed.cert_sha256()}});
  ASSERT_TRUE(refused.contains("error")) << refused.dump();
  EXPECT_EQ(refused["error"]["data"]["errc"], "not_supported");
}

TEST_F(XmppChat, AWrongCertificateIsRefusedWithItsFingerprintAndCanBePinned) {
  User alice = start_user("alice");
  server_->register_user(alice.address.substr(0, alice.address.find('@')), "pw");
  alice.rpc->call("account.add", {{"address", alice.address},
                                  {"password", "pw"},
                                  {"host", "127.0.0.1"},
                                  {"port", server_->c2s_port()},
                                  {"remember", true}});
  json refused =
      alice.rpc->call_raw("account.connect", {{"address", alice.address}, {"wait", true}});
  ASSERT_TRUE(refused.contains("error")) << refused.dump();
  EXPECT_EQ(refused["error"]["data"]["errc"], "certificate");
  EXPECT_EQ(refused["error"]["data"]["detail"], server_->cert_sha256());

  alice.rpc->call("account.pin", {{"address", alice.address}, {"sha256", server_->cert_sha256()}});
  connect(alice);
}

TEST_F(XmppChat, BadAddressesPasswordsAndServersGiveClearErrors) {
  User alice = registered_online("alice");
  alice.rpc->call("account.disconnect", {{"address", alice.address}});
  json wrong = alice.rpc->call_raw(
      "account.connect", {{"address", alice.address}, {"password", "nope"}, {"wait", true}});
  ASSERT_TRUE(wrong.contains("error"));
  EXPECT_EQ(wrong["error"]["data"]["errc"], "auth");

  json invalid =
      alice.rpc->call_raw("account.add", {{"address", "not a jid@@"}, {"password", "x"}});
  ASSERT_TRUE(invalid.contains("error"));
  EXPECT_EQ(invalid["error"]["data"]["errc"], "invalid_argument");

  uint16_t closed_port = free_tcp_port();
  alice.rpc->call("account.add", {{"address", "x@localhost"},
                                  {"password", "x"},
                                  {"host", "127.0.0.1"},
                                  {"port", closed_port},
                                  {"remember", true}});
  json refused =
      alice.rpc->call_raw("account.connect", {{"address", "x@localhost"}, {"wait", true}});
  ASSERT_TRUE(refused.contains("error"));
  EXPECT_EQ(refused["error"]["data"]["errc"], "network");

  alice.rpc->call("account.add", {{"address", "y@unknown-host.invalid"},
                                  {"password", "x"},
                                  {"host", "unknown-host.invalid"},
                                  {"remember", true}});
  json unknown = alice.rpc->call_raw("account.connect",
                                     {{"address", "y@unknown-host.invalid"}, {"wait", true}});
  ASSERT_TRUE(unknown.contains("error"));
  EXPECT_EQ(unknown["error"]["data"]["errc"], "network");
}

TEST_F(XmppChat, PresenceWithStatusReachesContactsPerResource) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  befriend(alice, bob);

  bob.rpc->call("presence.set",
                {{"account", bob.address}, {"availability", "away"}, {"status", "back at 3"}});
  json away = alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "presence" && e.value("address", "") == bob.address &&
           e.value("availability", "") == "away";
  });
  EXPECT_EQ(away["status"], "back at 3");
  EXPECT_FALSE(away["resource"].get<std::string>().empty());

  for (const char* availability : {"xa", "dnd", "available"}) {
    bob.rpc->call("presence.set", {{"account", bob.address}, {"availability", availability}});
    alice.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "presence" && e.value("address", "") == bob.address &&
             e.value("availability", "") == availability;
    });
  }
  bob.rpc->call("account.disconnect", {{"address", bob.address}});
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "presence" && e.value("address", "") == bob.address &&
           e.value("availability", "") == "offline";
  });
}

TEST_F(XmppChat, ContactsAreRenamedMovedBetweenGroupsAndRemoved) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  alice.rpc->call("contact.add", {{"account", alice.address},
                                  {"address", bob.address},
                                  {"name", "Bob"},
                                  {"groups", {"Work"}}});
  alice.rpc->call("contact.update", {{"account", alice.address},
                                     {"address", bob.address},
                                     {"name", "Robert"},
                                     {"groups", {"Friends", "Family"}}});
  wait_contact(alice, bob.address, [](const json& c) {
    return c.value("name", "") == "Robert" &&
           sorted(c["groups"]) == json::array({"Family", "Friends"});
  });
  json contacts = alice.rpc->call("contact.list", {{"account", alice.address}});
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0]["name"], "Robert");

  // The server keeps it: a fresh login sees the same.
  alice.rpc->call("account.disconnect", {{"address", alice.address}});
  connect(alice);
  json loaded = alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "contacts.loaded" && !e["contacts"].empty() &&
           e["contacts"][0].value("name", "") == "Robert";
  });
  EXPECT_EQ(sorted(loaded["contacts"][0]["groups"]), json::array({"Family", "Friends"}));

  alice.rpc->call("contact.remove", {{"account", alice.address}, {"address", bob.address}});
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "contact.removed" && e.value("address", "") == bob.address;
  });
  EXPECT_TRUE(alice.rpc->call("contact.list", {{"account", alice.address}}).empty());
  json missing =
      alice.rpc->call_raw("contact.remove", {{"account", alice.address}, {"address", bob.address}});
  ASSERT_TRUE(missing.contains("error"));
  EXPECT_EQ(missing["error"]["data"]["errc"], "not_found");
}

TEST_F(XmppChat, SeveralAccountsAreOnlineAtOnceInOneProcess) {
  User alice = registered_online("alice");
  std::string second = unique("alt") + "@" + server_->domain();
  alice.rpc->call("account.register", server_params(second, "pw-second"));
  alice.rpc->call("account.connect", {{"address", second}, {"wait", true}});
  EXPECT_EQ(alice.rpc->call("account.state", {{"address", alice.address}})["state"], "online");
  alice.rpc->call("message.send",
                  {{"account", alice.address}, {"to", second}, {"body", "to myself"}});
  json got = wait_message(alice, "to myself");
  EXPECT_EQ(got["account"], second);
  EXPECT_EQ(got["peer"], alice.address);
}

TEST_F(XmppChat, MessagesFromAndToTheUsersOtherDevicesAppearThroughCarbons) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  // Alice's second device: another profile with the same account.
  User phone = start_user("phone");
  phone.address = alice.address;
  json settings = server_params(alice.address, alice.password);
  phone.rpc->call("account.add", settings);
  connect(phone);
  // "Online" means bound with stream management on; the phone's presence
  // (after its carbons request) is on its way. Once the desk sees it, the
  // server routes to both devices.
  std::set<std::string> desk_sees;
  while (desk_sees.size() < 2) {
    json p = alice.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "presence" && e.value("address", "") == alice.address &&
             e.value("availability", "") == "available";
    });
    desk_sees.insert(p["resource"].get<std::string>());
  }

  bob.rpc->call("message.send",
                {{"account", bob.address}, {"to", alice.address}, {"body", "to both"}});
  EXPECT_EQ(wait_message(alice, "to both")["peer"], bob.address);
  EXPECT_EQ(wait_message(phone, "to both")["peer"], bob.address);

  alice.rpc->call("message.send",
                  {{"account", alice.address}, {"to", bob.address}, {"body", "from the desk"}});
  json copy = wait_message(phone, "from the desk");
  EXPECT_TRUE(copy.value("outgoing", false));
  EXPECT_EQ(copy["peer"], bob.address);
}

TEST_F(XmppChat, DirectTlsWorksAndAStalledServerTimesOut) {
  User alice = start_user("alice");
  std::string user = alice.address.substr(0, alice.address.find('@'));
  server_->register_user(user, "pw");
  alice.rpc->call("account.add", {{"address", alice.address},
                                  {"password", "pw"},
                                  {"host", "127.0.0.1"},
                                  {"port", server_->direct_tls_port()},
                                  {"direct_tls", true},
                                  {"pin", server_->cert_sha256()},
                                  {"remember", true}});
  connect(alice);

  // A "server" that accepts the connection and then says nothing.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  alice.rpc->call("account.add", {{"address", "silent@localhost"},
                                  {"password", "x"},
                                  {"host", "127.0.0.1"},
                                  {"port", ntohs(address.sin_port)},
                                  {"remember", true}});
  json stalled = alice.rpc->call_raw("account.connect",
                                     {{"address", "silent@localhost"}, {"wait", true}}, 40s);
  ::close(listener);
  ASSERT_TRUE(stalled.contains("error")) << stalled.dump();
  EXPECT_EQ(stalled["error"]["data"]["errc"], "timeout");
  // The other account was not disturbed.
  EXPECT_EQ(alice.rpc->call("account.state", {{"address", alice.address}})["state"], "online");
}

// The server is killed and restarted in the middle of a burst: every message
// arrives exactly once.
TEST_F(XmppChat, ABurstSurvivesAServerRestartExactlyOnce) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  befriend(alice, bob);
  // This is about the stream (resumption, resending, duplicates), so the
  // messages go in plain text: with OTR on, the key exchange its first
  // message starts is cut by the restart too (docs/otr.md, "Limits").
  alice.rpc->call("otr.setPolicy", {{"policy", "manual"}});

  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) {
    alice.rpc->call(
        "message.send",
        {{"account", alice.address}, {"to", bob.address}, {"body", "burst " + std::to_string(i)}});
    if (i == kMessages / 3) {
      server_->kill();
      server_->start();
    }
  }
  std::multiset<std::string> bodies;
  std::set<std::string> unique_bodies;
  while (unique_bodies.size() < kMessages) {
    json e = bob.rpc->wait_event(
        [](const json& e) { return e.value("type", "") == "message.received"; }, 60s);
    bodies.insert(e["body"].get<std::string>());
    unique_bodies.insert(e["body"].get<std::string>());
  }
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(kMessages)) << "duplicates were shown";
  // Nothing more trickles in afterwards (a late duplicate would show here).
  json end = alice.rpc->call("message.send",
                             {{"account", alice.address}, {"to", bob.address}, {"body", "end"}});
  for (;;) {
    json e = bob.rpc->wait_event(
        [](const json& e) { return e.value("type", "") == "message.received"; }, 30s);
    if (e["body"] == "end") break;
    ADD_FAILURE() << "late duplicate: " << e["body"];
  }
  // The server acknowledges everything Alice's outbox held. Bob's receipt
  // for "end" may overtake the server's acknowledgement (then "sent" is never
  // reported), so wait for either, then for the acknowledgement itself.
  alice.rpc->wait_event([&](const json& e) {
    const std::string state = e.value("state", "");
    return e.value("type", "") == "message.state" && e.value("id", "") == end["id"] &&
           (state == "sent" || state == "delivered");
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int unacked = alice.rpc->call("engine.unacked", json::object())["count"];
  while (unacked != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    unacked = alice.rpc->call("engine.unacked", json::object())["count"];
  }
  EXPECT_EQ(unacked, 0) << "the server never acknowledged Alice's last messages";

  // Both saw the connection drop and come back.
  for (User* user : {&alice, &bob}) {
    bool dropped = false;
    bool back = false;
    for (const json& e : user->rpc->events_seen()) {
      if (e.value("type", "") != "account.state") continue;
      if (e.value("state", "") == "reconnecting") dropped = true;
      if (dropped && e.value("state", "") == "online") back = true;
    }
    EXPECT_TRUE(dropped && back) << user->address;
  }
}

}  // namespace
}  // namespace sotto::test
