// The opt-in packet log against a real Prosody: off by default (nothing is
// written), on it holds the XML of each account's stream but never the
// login or a password, and it starts and stops at once for accounts that
// are online.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::string_view kLoginPlaceholder = "<!-- authentication exchange not logged -->";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16 |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                   static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < bytes.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size())
      n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// What the base64 of any text starting with `prefix` starts with.
std::string base64_prefix(std::string_view prefix) {
  return base64(prefix.substr(0, prefix.size() / 3 * 3));
}

class PacketLog : public SottoOnProsody {
 protected:
  static fs::path packets(const SottoUser& user) { return user.profile() / "packets"; }
  static fs::path log_of(const SottoUser& user) { return packets(user) / (user.address + ".log"); }

  // Plain chat: what is on the wire does not depend on an OTR key exchange.
  static void plain_chat_only(SottoUser& user) {
    user.rpc->call("otr.setPolicy", {{"policy", "manual"}});
  }

  // `from` sends; returns once `to` has the message and `from` knows the
  // server took it.
  static void say(SottoUser& from, SottoUser& to, const std::string& body) {
    json sent = send_message(from, to.address, body);
    wait_message(to, body);
    wait_sent(from, sent["id"]);
  }
};

TEST_F(PacketLog, IsOffByDefaultAndWritesNothing) {
  SottoUser alice = registered_online("alice");
  SottoUser bob = registered_online("bob");
  for (SottoUser* u : {&alice, &bob}) plain_chat_only(*u);
  json state = alice.rpc->call("profile.packetLogging");
  EXPECT_FALSE(state["on"].get<bool>());
  EXPECT_EQ(state["dir"], packets(alice).string());

  const std::string body = "nobody logs this " + unique("m");
  say(alice, bob, body);
  say(bob, alice, body + " back");
  for (SottoUser* u : {&alice, &bob}) {
    EXPECT_FALSE(fs::exists(packets(*u))) << u->address;
    EXPECT_EQ(files_containing(u->profile(), {body, u->address}), std::vector<std::string>{})
        << u->address;
  }
  EXPECT_EQ(alice.rpc->stderr_text().find("packet logging is on"), std::string::npos);
}

TEST_F(PacketLog, HoldsTheStanzasButNeitherTheLoginNorAPassword) {
  SottoUser alice = start_user("alice");
  json on = alice.rpc->call("profile.setPacketLogging", {{"on", true}});
  EXPECT_TRUE(on["on"].get<bool>());
  EXPECT_EQ(on["dir"], packets(alice).string());
  EXPECT_NE(alice.rpc->stderr_text().find("packet logging is on: plain text in " +
                                          packets(alice).string()),
            std::string::npos)
      << alice.rpc->stderr_text();
  // Registration, login and a password change all go through the log.
  alice.rpc->call("account.register", server_params(alice.address, alice.password));
  connect(alice);
  SottoUser bob = registered_online("bob");
  for (SottoUser* u : {&alice, &bob}) plain_chat_only(*u);
  const std::string out = "out to bob " + unique("m");
  const std::string in = "in from bob " + unique("m");
  say(alice, bob, out);
  say(bob, alice, in);
  const std::string old_password = alice.password;
  alice.password = "N3w-" + unique("secret");
  alice.rpc->call("account.passwd", {{"address", alice.address}, {"new_password", alice.password}});

  ASSERT_TRUE(fs::exists(log_of(alice))) << "no " << log_of(alice);
  const std::string log = read_file(log_of(alice));
  // What the user turned it on for: the stanzas, both ways, time-stamped.
  EXPECT_NE(log.find(" SEND <message"), std::string::npos) << log;
  EXPECT_NE(log.find("<body>" + out + "</body>"), std::string::npos) << log;
  EXPECT_NE(log.find(" RECV "), std::string::npos) << log;
  EXPECT_NE(log.find("<body>" + in + "</body>"), std::string::npos) << log;
  EXPECT_NE(log.find("<stream:stream"), std::string::npos) << log;
  // What it must never hold: the passwords, and the SASL exchange that
  // carries them or proofs of them.
  const std::string local = alice.address.substr(0, alice.address.find('@'));
  for (const std::string& secret :
       {old_password, alice.password, base64(old_password), base64(alice.password),
        base64(std::string(1, '\0') + local + '\0' + old_password), base64_prefix("n,,n=" + local),
        base64_prefix("y,,n=" + local), base64_prefix("p=tls-exporter,,n=" + local),
        base64_prefix("p=tls-unique,,n=" + local)}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "the log holds " << secret;
  }
  for (const std::string_view sasl : {"<auth ", "<challenge", "<response", "<success"}) {
    EXPECT_EQ(log.find(sasl), std::string::npos) << sasl;
  }
  EXPECT_NE(log.find(std::string(" SEND ") + std::string(kLoginPlaceholder)), std::string::npos);
  EXPECT_NE(log.find(std::string(" RECV ") + std::string(kLoginPlaceholder)), std::string::npos);
  EXPECT_NE(log.find("<password>[redacted]</password>"), std::string::npos)
      << "registration and the password change, redacted";
  // Readable by the user alone.
  EXPECT_EQ(fs::status(packets(alice)).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(log_of(alice)).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  // Bob did not turn it on.
  EXPECT_FALSE(fs::exists(packets(bob)));

  // The setting is kept in the profile.
  stop_rpc(alice);
  start_rpc(alice);
  EXPECT_TRUE(alice.rpc->call("profile.packetLogging")["on"].get<bool>());
}

TEST_F(PacketLog, StartsAndStopsWithoutReconnecting) {
  SottoUser alice = registered_online("alice");
  SottoUser bob = registered_online("bob");
  for (SottoUser* u : {&alice, &bob}) plain_chat_only(*u);
  const std::size_t states = events_of(alice, "account.state").size();

  alice.rpc->call("profile.setPacketLogging", {{"on", true}});
  const std::string logged = "logged " + unique("m");
  say(alice, bob, logged);
  say(bob, alice, logged + " back");
  ASSERT_TRUE(fs::exists(log_of(alice)));
  std::string log = read_file(log_of(alice));
  EXPECT_NE(log.find("<body>" + logged + "</body>"), std::string::npos) << log;
  EXPECT_NE(log.find("<body>" + logged + " back</body>"), std::string::npos) << log;
  EXPECT_EQ(log.find(kLoginPlaceholder), std::string::npos) << "it came on after the login";

  json off = alice.rpc->call("profile.setPacketLogging", {{"on", false}});
  EXPECT_FALSE(off["on"].get<bool>());
  const auto size = fs::file_size(log_of(alice));
  const std::string unlogged = "unlogged " + unique("m");
  say(alice, bob, unlogged);
  say(bob, alice, unlogged + " back");
  EXPECT_EQ(fs::file_size(log_of(alice)), size);
  log = read_file(log_of(alice));
  EXPECT_EQ(log.find(unlogged), std::string::npos);

  EXPECT_EQ(events_of(alice, "account.state").size(), states) << "the account reconnected";
  EXPECT_EQ(alice.rpc->call("account.state", {{"address", alice.address}})["state"], "online");
}

TEST_F(PacketLog, TheCommandSaysItIsPlainTextAndWhere) {
  SottoUser alice = registered_online("alice");
  stop_rpc(alice);
  const std::string folder = packets(alice).string();

  auto [shown, shown_status] = run_cli(alice.home->path(), "profile packet-log");
  EXPECT_EQ(shown_status, 0) << shown;
  EXPECT_NE(shown.find("The packet log is off"), std::string::npos) << shown;
  EXPECT_NE(shown.find(folder), std::string::npos) << shown;

  auto [on, on_status] = run_cli(alice.home->path(), "profile packet-log on");
  EXPECT_EQ(on_status, 0) << on;
  EXPECT_NE(on.find("PLAIN TEXT"), std::string::npos) << on;
  EXPECT_NE(on.find("addresses"), std::string::npos) << on;
  EXPECT_NE(on.find(folder), std::string::npos) << on;
  EXPECT_NE(on.find("packet logging is on: plain text in " + folder), std::string::npos)
      << "the log line: " << on;

  auto [again, again_status] = run_cli(alice.home->path(), "profile packet-log");
  EXPECT_NE(again.find("The packet log is on"), std::string::npos) << again;
  start_rpc(alice);
  EXPECT_TRUE(alice.rpc->call("profile.packetLogging")["on"].get<bool>());
  stop_rpc(alice);

  auto [off, off_status] = run_cli(alice.home->path(), "profile packet-log off");
  EXPECT_EQ(off_status, 0) << off;
  EXPECT_NE(off.find("The packet log is off"), std::string::npos) << off;
  auto [bad, bad_status] = run_cli(alice.home->path(), "profile packet-log maybe");
  EXPECT_EQ(bad_status, 2) << bad;
}

}  // namespace
}  // namespace sotto::test
