// The encrypted profile in use: after real chats through a real Prosody, the
// profile folder holds no message body, contact address or password in
// readable form; history can be browsed, searched, switched off and deleted;
// a master password locks it; the first issue's profile.json is imported.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The profile folder and everything in it is the user's alone.
void expect_private(const fs::path& dir) {
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all) << dir;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto perms = entry.status().permissions() & fs::perms::all;
    if (entry.is_directory()) {
      EXPECT_EQ(perms, fs::perms::owner_all) << entry.path();
    } else {
      EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write) << entry.path();
    }
  }
}

class ProfileAtRest : public SottoOnProsody {
 protected:
  using User = SottoUser;

  // Friends whose presence each has seen, so that messages to the bare
  // address reach the other's session.
  static void befriend(User& a, User& b) {
    SottoOnProsody::befriend(a, b, {{"name", "B"}});
    for (User* u : {&a, &b}) {
      const std::string other = u == &a ? b.address : a.address;
      u->rpc->wait_event([&](const json& e) {
        return e.value("type", "") == "presence" && e.value("address", "") == other &&
               e.value("availability", "") != "offline";
      });
    }
  }

  // Sends and waits until the other side has it and its receipt is back.
  static void chat(User& from, User& to, const std::string& body) {
    json sent = from.rpc->call("message.send",
                               {{"account", from.address}, {"to", to.address}, {"body", body}});
    to.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "message.received" && e.value("body", "") == body;
    });
    from.rpc->wait_event([&](const json& e) {
      return e.value("type", "") == "message.state" && e.value("id", "") == sent["id"] &&
             e.value("state", "") == "delivered";
    });
  }

  static json history(User& user, const std::string& peer) {
    return user.rpc->call("history.show", {{"account", user.address}, {"peer", peer}});
  }

  static std::vector<std::string> bodies(const json& messages) {
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(m.value("body", ""));
    return out;
  }
};

TEST_F(ProfileAtRest, NothingReadableIsLeftInTheProfileFolder) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  befriend(alice, bob);
  // Plain chat, so that what is logged does not depend on when an OTR key
  // exchange the first message would start finishes (OTR at rest: otr_test).
  for (User* u : {&alice, &bob}) u->rpc->call("otr.setPolicy", {{"policy", "manual"}});
  const std::vector<std::string> said = {"Meet at the library, 7pm " + unique("m"),
                                         "The documents are in the blue folder " + unique("m"),
                                         "Bring the second phone " + unique("m")};
  chat(alice, bob, said[0]);
  chat(bob, alice, said[1]);
  chat(alice, bob, said[2]);
  const std::string old_password = alice.password;
  alice.password = "N3w-" + unique("secret");
  alice.rpc->call("account.passwd", {{"address", alice.address}, {"new_password", alice.password}});

  // History holds the conversation, both directions, with delivery states.
  json page = history(alice, bob.address);
  ASSERT_EQ(bodies(page), said) << page.dump();
  EXPECT_TRUE(page[0]["outgoing"].get<bool>());
  EXPECT_FALSE(page[1]["outgoing"].get<bool>());
  EXPECT_EQ(page[0].value("state", ""), "delivered");
  EXPECT_FALSE(page[0]["encrypted"].get<bool>());
  json hits = bob.rpc->call("history.search", {{"words", "blue fold"}});
  ASSERT_EQ(hits.size(), 1u) << hits.dump();
  EXPECT_EQ(hits[0]["body"], said[1]);
  json list = alice.rpc->call("history.list");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["messages"], 3);

  const std::vector<std::string> secrets = {said[0],
                                            said[1],
                                            said[2],
                                            "library",
                                            "blue folder",
                                            "second phone",
                                            alice.address,
                                            bob.address,
                                            old_password,
                                            alice.password,
                                            bob.password,
                                            alice.address.substr(0, alice.address.find('@')),
                                            bob.address.substr(0, bob.address.find('@'))};
  // While both run (the WAL holds the recent pages) ...
  for (User* u : {&alice, &bob}) {
    EXPECT_EQ(files_containing(u->profile(), secrets), std::vector<std::string>{}) << u->address;
    expect_private(u->profile());
  }
  // ... and after they have exited.
  stop_rpc(alice);
  stop_rpc(bob);
  for (User* u : {&alice, &bob}) {
    EXPECT_EQ(files_containing(u->profile(), secrets), std::vector<std::string>{}) << u->address;
  }

  // The CLI reads the same history; deleting it leaves nothing to find.
  auto [shown, status] =
      run_cli(alice.home->path(), "history show " + alice.address + " " + bob.address);
  EXPECT_EQ(status, 0) << shown;
  EXPECT_NE(shown.find(said[1]), std::string::npos) << shown;
  auto [deleted, deleted_status] =
      run_cli(alice.home->path(), "history delete " + alice.address + " " + bob.address);
  EXPECT_EQ(deleted_status, 0) << deleted;
  EXPECT_NE(deleted.find("Deleted 3 message(s)"), std::string::npos) << deleted;
  auto [after, after_status] = run_cli(alice.home->path(), "history search library");
  EXPECT_EQ(after_status, 0);
  EXPECT_NE(after.find("Nothing found."), std::string::npos) << after;
}

TEST_F(ProfileAtRest, AConversationWithHistoryOffLeavesNoRow) {
  User alice = registered_online("alice");
  User bob = registered_online("bob");
  User carol = registered_online("carol");
  befriend(alice, bob);
  befriend(alice, carol);
  alice.rpc->call("history.setLogging",
                  {{"on", false}, {"account", alice.address}, {"peer", bob.address}});
  json logging =
      alice.rpc->call("history.logging", {{"account", alice.address}, {"peer", bob.address}});
  EXPECT_FALSE(logging["on"].get<bool>());
  EXPECT_TRUE(logging["global"].get<bool>());
  chat(alice, bob, "off the record");
  chat(bob, alice, "indeed");
  chat(alice, carol, "on the record");
  EXPECT_EQ(history(alice, bob.address), json::array());
  EXPECT_EQ(bodies(history(alice, carol.address)), std::vector<std::string>{"on the record"});
  EXPECT_EQ(bodies(history(bob, alice.address)),
            (std::vector<std::string>{"off the record", "indeed"}))
      << "Bob's own switch is his to set";

  // The global switch: nothing at all.
  alice.rpc->call("history.setLogging", {{"on", false}});
  chat(carol, alice, "still there?");
  EXPECT_EQ(bodies(history(alice, carol.address)), std::vector<std::string>{"on the record"});
  json info = alice.rpc->call("profile.info");
  EXPECT_FALSE(info["log_history"].get<bool>());
  EXPECT_EQ(info["messages"], 1);
  // The setting survives a restart.
  stop_rpc(alice);
  start_rpc(alice);
  EXPECT_FALSE(alice.rpc->call("profile.info")["log_history"].get<bool>());
}

TEST_F(ProfileAtRest, AMasterPasswordLocksTheProfile) {
  User alice = registered_online("alice");
  // Without a master password the vault is a key file: the data key is its
  // last 32 bytes.
  EXPECT_EQ(alice.rpc->call("profile.info")["protection"], "key-file");
  const std::string key_file = read_file(alice.profile() / "key");
  ASSERT_EQ(key_file.size(), 42u);
  const std::string data_key = key_file.substr(10);
  json info = alice.rpc->call("profile.passwd", {{"new", "correct horse battery"}});
  EXPECT_EQ(info["protection"], "master-password");
  EXPECT_EQ(files_containing(alice.profile(), {data_key}), std::vector<std::string>{})
      << "the data key must now exist only wrapped";
  alice.rpc->call("profile.lock");
  alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "account.state" && e.value("state", "") == "offline";
  });
  json locked = alice.rpc->call_raw("account.list");
  ASSERT_TRUE(locked.contains("error")) << locked.dump();
  EXPECT_EQ(locked["error"]["message"], "the profile is locked");

  stop_rpc(alice);
  start_rpc(alice);
  EXPECT_FALSE(alice.rpc->call("profile.info")["unlocked"].get<bool>());
  json wrong = alice.rpc->call_raw("profile.unlock", {{"password", "correct horse"}});
  ASSERT_TRUE(wrong.contains("error")) << wrong.dump();
  EXPECT_EQ(wrong["error"]["data"]["errc"], "auth");
  EXPECT_FALSE(alice.rpc->call("profile.info")["unlocked"].get<bool>());
  EXPECT_TRUE(alice.rpc->call("profile.unlock", {{"password", "correct horse battery"}})["unlocked"]
                  .get<bool>());
  // The remembered account password came back with the profile.
  alice.rpc->call("account.connect", {{"address", alice.address}, {"wait", true}});
  stop_rpc(alice);

  // The CLI asks for it too.
  auto [wrong_cli, wrong_status] =
      run_cli(alice.home->path(), "--password-stdin account list", "nope\n");
  EXPECT_EQ(wrong_status, 1);
  EXPECT_NE(wrong_cli.find("the master password is wrong"), std::string::npos) << wrong_cli;
  auto [listed, listed_status] =
      run_cli(alice.home->path(), "--password-stdin account list", "correct horse battery\n");
  EXPECT_EQ(listed_status, 0) << listed;
  EXPECT_NE(listed.find(alice.address), std::string::npos) << listed;
  EXPECT_EQ(files_containing(alice.profile(), {"correct horse", alice.password}),
            std::vector<std::string>{});
}

// Argon2id takes about half a second: it runs off the core thread, so the
// engine keeps answering (and the accounts keep talking) meanwhile.
TEST_F(ProfileAtRest, DerivingAKeyDoesNotStallTheEngine) {
  User alice = registered_online("alice");
  alice.rpc->send_line(
      R"({"jsonrpc":"2.0","id":"slow","method":"profile.passwd","params":{"new":"a long phrase"}})");
  alice.rpc->call("engine.unacked");
  EXPECT_THROW(alice.rpc->wait_response("slow", 0ms), std::runtime_error)
      << "the key was derived on the core thread: engine.unacked waited for it";
  json busy = alice.rpc->call_raw("profile.passwd", {{"current", "x"}, {"new", "y"}});
  ASSERT_TRUE(busy.contains("error")) << busy.dump();
  EXPECT_EQ(busy["error"]["data"]["errc"], "not_allowed");
  json slow = alice.rpc->wait_response("slow", 20s);
  ASSERT_TRUE(slow.contains("result")) << slow.dump();
  EXPECT_EQ(slow["result"]["protection"], "master-password");
  EXPECT_EQ(alice.rpc->call("account.state", {{"address", alice.address}})["state"], "online");
}

TEST_F(ProfileAtRest, AFlippedByteIsTheDamagedProfileError) {
  User alice = registered_online("alice");
  stop_rpc(alice);
  const fs::path db = alice.profile() / "profile.db";
  std::string bytes = read_file(db);
  ASSERT_GT(bytes.size(), 4096u);
  bytes[1000] = static_cast<char>(bytes[1000] ^ 0x04);  // inside page 1, read on every open
  std::ofstream(db, std::ios::binary | std::ios::trunc) << bytes;
  auto [out, status] = run_cli(alice.home->path(), "account list");
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("the profile is damaged or the key is wrong"), std::string::npos) << out;
  EXPECT_EQ(out.find(alice.address), std::string::npos) << "nothing read from a damaged page";
}

TEST_F(ProfileAtRest, ProfileLockEndsTheSessionsUsingIt) {
  User alice = registered_online("alice");
  ASSERT_TRUE(fs::exists(alice.profile() / "sessions" / std::to_string(alice.rpc->pid())));
  auto [out, status] = run_cli(alice.home->path(), "profile lock");
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Locked: 1 sotto session(s)"), std::string::npos) << out;
  // It went offline and exited on its own, cleanly.
  EXPECT_EQ(alice.rpc->wait_exit(5s), std::optional<int>(0)) << alice.rpc->stderr_text();
  EXPECT_FALSE(fs::exists(alice.profile() / "sessions" / std::to_string(alice.rpc->pid())));
  auto [again, again_status] = run_cli(alice.home->path(), "profile lock");
  EXPECT_NE(again.find("No sotto session had this profile open"), std::string::npos) << again;
}

TEST_F(ProfileAtRest, TheInterimProfileFileIsImportedAndRemoved) {
  // Create the account on the server from a throwaway profile.
  User maker = start_user("alice");
  maker.rpc->call("account.register", server_params(maker.address, maker.password));
  stop_rpc(maker);
  User alice;
  alice.home = std::make_unique<TempDir>("sotto-user");
  alice.address = maker.address;
  alice.password = maker.password;
  // The first issue's profile.json, as it wrote it.
  fs::create_directories(alice.profile());
  json interim{{"version", 1},
               {"accounts",
                {{{"protocol", "xmpp"},
                  {"address", alice.address},
                  {"host", "127.0.0.1"},
                  {"port", server_->c2s_port()},
                  {"direct_tls", false},
                  {"pinned_cert_sha256", server_->cert_sha256()},
                  {"remember_password", true},
                  {"password", alice.password}}}}};
  std::ofstream(alice.profile() / "profile.json") << interim.dump(2);

  start_rpc(alice);
  json accounts = alice.rpc->call("account.list");
  ASSERT_EQ(accounts.size(), 1u) << accounts.dump();
  EXPECT_EQ(accounts[0]["address"], alice.address);
  EXPECT_FALSE(fs::exists(alice.profile() / "profile.json"));
  alice.rpc->call("account.connect", {{"address", alice.address}, {"wait", true}});
  stop_rpc(alice);
  EXPECT_EQ(files_containing(alice.profile(), {alice.password, alice.address}),
            std::vector<std::string>{});
}

}  // namespace
}  // namespace sotto::test
