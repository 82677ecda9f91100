// Private conversations (OTR, issue 4) between Sotto users through a real
// Prosody, checked as a user and as an eavesdropper on the server would:
// the padlock (otr.privacy, otr.status), what arrives and how it is marked,
// and what the server's stanza log shows (every body between the two starts
// with ?OTR; the plaintext appears nowhere).
#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <condition_variable>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "sotto/xmpp/xmpp.h"
#include "sotto_on_prosody.h"

namespace sotto::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A plain XMPP client with no OTR at all: Sotto's XMPP layer without the
// engine, on a thread of its own. The honest "peer with OTR off", and a way
// to put hand-made bodies (garbled OTR data) on the wire.
class PlainXmppPeer final : public xmpp::ClientListener {
 public:
  PlainXmppPeer(const Prosody& server, const std::string& address, const std::string& password,
                const std::string& resource = "plain")
      : work_(asio::make_work_guard(io_)) {
    auto jid = Jid::parse(address);
    if (!jid) throw std::runtime_error("PlainXmppPeer: bad address " + address);
    xmpp::ServerSettings settings;
    settings.host = "127.0.0.1";
    settings.port = server.c2s_port();
    settings.pinned_sha256 = server.cert_sha256();
    client_ = std::make_unique<xmpp::Client>(
        io_.get_executor(), xmpp::Credentials{*jid, password, resource}, settings, *this);
    thread_ = std::thread([this] { io_.run(); });
    on_io([this] { client_->connect(); });
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 20s, [&] {
      return state_ == xmpp::ConnectionState::online || state_ == xmpp::ConnectionState::failed;
    });
    if (state_ != xmpp::ConnectionState::online) {
      lock.unlock();
      stop();
      throw std::runtime_error("PlainXmppPeer: " + address + " did not go online");
    }
  }

  ~PlainXmppPeer() override { stop(); }
  PlainXmppPeer(const PlainXmppPeer&) = delete;
  PlainXmppPeer& operator=(const PlainXmppPeer&) = delete;

  void send(const std::string& to, const std::string& body) {
    auto jid = Jid::parse(to);
    if (!jid) throw std::runtime_error("PlainXmppPeer: bad address " + to);
    on_io([&] { client_->send_message(*jid, body); });
  }

  // The first message received (in order, taken or not before) that matches.
  xmpp::Message wait_message(std::function<bool(const xmpp::Message&)> match,
                             std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    xmpp::Message found;
    bool ok = changed_.wait_for(lock, timeout, [&] {
      for (const xmpp::Message& m : messages_) {
        if (match(m)) {
          found = m;
          return true;
        }
      }
      return false;
    });
    if (!ok) {
      std::string seen;
      for (const xmpp::Message& m : messages_) seen += "  " + m.body.substr(0, 200) + "\n";
      throw std::runtime_error("PlainXmppPeer: no matching message; bodies seen:\n" + seen);
    }
    return found;
  }

  std::vector<xmpp::Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  void on_io(std::function<void()> work) {
    std::promise<void> done;
    auto finished = done.get_future();
    asio::post(io_, [&] {
      try {
        work();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    if (finished.wait_for(10s) != std::future_status::ready) {
      throw std::runtime_error("PlainXmppPeer: its thread is stuck");
    }
    finished.get();
  }

  void stop() {
    if (!thread_.joinable()) return;
    try {
      on_io([this] {
        client_->disconnect();
        client_.reset();
      });
    } catch (...) {
    }
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void on_state(xmpp::ConnectionState state, const std::optional<Error>&) override {
    std::lock_guard lock(mutex_);
    state_ = state;
    changed_.notify_all();
  }
  void on_message(const xmpp::Message& message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(message);
    changed_.notify_all();
  }
  void on_roster(const std::vector<xmpp::RosterItem>&) override {}
  void on_roster_item(const xmpp::RosterItem&) override {}
  void on_roster_removed(const Jid&) override {}
  void on_presence(const xmpp::Presence&) override {}
  void on_subscription_request(const Jid&, const std::string&) override {}
  void on_subscription_denied(const Jid&) override {}
  void on_message_sent(const Jid&, const std::string&) override {}
  void on_message_delivered(const Jid&, const std::string&) override {}
  void on_message_error(const Jid&, const std::string&, const Error&) override {}

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unique_ptr<xmpp::Client> client_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  xmpp::ConnectionState state_ = xmpp::ConnectionState::offline;
  std::vector<xmpp::Message> messages_;
};

std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t chunk = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) chunk |= static_cast<std::uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<std::uint8_t>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

class Otr : public SottoOnProsody {
 protected:
  using User = SottoUser;

  void SetUp() override { log_offset_ = server_log_size(); }

  // A text that must never show up in plain on the wire: letters and digits
  // only, so the server's log (XML) shows it as is if it ever leaks.
  static std::string secret_text(std::string_view name) { return "secretText" + unique(name); }

  // A new account, online, with its OTR key.
  static User otr_user(std::string_view name) {
    User user = registered_online(name);
    otr_key(user);
    return user;
  }

  // Alice and Bob, who have added each other, each with an OTR key.
  static std::pair<User, User> friends() {
    User alice = otr_user("alice");
    User bob = otr_user("bob");
    befriend(alice, bob);
    return {std::move(alice), std::move(bob)};
  }

  // An account that exists on the server only (no Sotto profile has it).
  static std::pair<std::string, std::string> server_account(std::string_view name) {
    std::string local = unique(name);
    std::string password = "pw-" + local;
    server_->register_user(local, password);
    return {local + "@" + server_->domain(), password};
  }

  // A new Sotto profile for an existing account, online with its OTR key.
  static User sotto_for(const std::string& address, const std::string& password) {
    User user;
    user.home = std::make_unique<TempDir>("sotto-user");
    user.address = address;
    user.password = password;
    start_rpc(user);
    user.rpc->call("account.add", server_params(address, password));
    connect(user);
    otr_key(user);
    return user;
  }

  static json received_from(User& user, const std::string& peer,
                            std::chrono::milliseconds timeout = 20s) {
    return wait_event_of(
        user, "message.received",
        [&](const json& e) { return e.value("peer", "") == peer && !e.value("outgoing", false); },
        timeout);
  }

  // OTR's own messages (queries, AKE, SMP, errors) are never shown as messages.
  static void expect_no_otr_shown(const User& user) {
    for (const json& e : events_of(user, "message.received")) {
      EXPECT_FALSE(e.value("body", "").starts_with("?OTR"))
          << user.address << " was shown " << e.dump().substr(0, 300);
    }
  }

  static json trust_entry(User& user, const std::string& peer, const std::string& fingerprint) {
    json known = user.rpc->call("otr.trust", {{"account", user.address}});
    for (const json& entry : known) {
      if (entry.value("peer", "") == peer && entry.value("fingerprint", "") == fingerprint) {
        return entry;
      }
    }
    ADD_FAILURE() << user.address << " does not list " << peer << " " << fingerprint << ": "
                  << known.dump();
    return json::object();
  }

  // A private message from `from` to `to` arrives, marked encrypted.
  static void expect_private_message(User& from, User& to, const std::string& text) {
    json sent = send_message(from, to.address, text);
    EXPECT_TRUE(sent.value("encrypted", false)) << sent.dump();
    EXPECT_FALSE(sent.value("held", true)) << sent.dump();
    json got = wait_message(to, text);
    EXPECT_EQ(got["peer"], from.address);
    EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  }

  std::uintmax_t log_offset_ = 0;
};

const std::regex kFingerprint("([0-9A-F]{8} ){4}[0-9A-F]{8}");

TEST_F(Otr, AkeAndMessagesBothWays) {
  auto [alice, bob] = friends();
  const std::string alice_fp = otr_key(alice);
  const std::string bob_fp = otr_key(bob);
  EXPECT_TRUE(std::regex_match(alice_fp, kFingerprint)) << alice_fp;
  EXPECT_NE(alice_fp, bob_fp);

  auto [by_alice, by_bob] = go_private(alice, bob);
  for (const json& e : {by_alice, by_bob}) {
    EXPECT_EQ(e.value("version", 0), 3) << "Sotto to Sotto negotiates OTR v3: " << e.dump();
    EXPECT_NE(e.value("instance", 0u), 0u) << e.dump();
    EXPECT_FALSE(e.value("resource", "").empty()) << e.dump();
  }
  // Each side saw the other's key for the first time.
  json new_for_alice = wait_event_of(alice, "otr.fingerprint.new", [&](const json& e) {
    return e.value("peer", "") == bob.address;
  });
  EXPECT_EQ(new_for_alice["fingerprint"], bob_fp);
  json new_for_bob = wait_event_of(bob, "otr.fingerprint.new", [&](const json& e) {
    return e.value("peer", "") == alice.address;
  });
  EXPECT_EQ(new_for_bob["fingerprint"], alice_fp);

  const std::string to_bob = secret_text("tobob");
  const std::string to_alice = secret_text("toalice");
  json sent = send_message(alice, bob.address, to_bob);
  EXPECT_TRUE(sent.value("encrypted", false)) << sent.dump();
  EXPECT_FALSE(sent.value("held", true)) << sent.dump();
  json got = wait_message(bob, to_bob);
  EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  EXPECT_EQ(got["peer"], alice.address);
  wait_sent(alice, sent["id"]);
  expect_private_message(bob, alice, to_alice);

  // The padlock each side shows, with the key each side sees.
  json alice_sees = otr_status(alice, bob.address);
  EXPECT_EQ(alice_sees["privacy"], "unverified") << alice_sees.dump();
  EXPECT_EQ(alice_sees["version"], 3);
  EXPECT_EQ(alice_sees["fingerprint"], bob_fp);
  EXPECT_EQ(alice_sees["held"], 0);
  json bob_sees = otr_status(bob, alice.address);
  EXPECT_EQ(bob_sees["privacy"], "unverified") << bob_sees.dump();
  EXPECT_EQ(bob_sees["fingerprint"], alice_fp);
  EXPECT_EQ(trust_entry(alice, bob.address, bob_fp).value("active", false), true);

  // What the server saw: AKE and data, all OTR; the texts nowhere.
  expect_only_otr_on_the_wire(log_offset_, alice.address, bob.address, {to_bob, to_alice}, 2);
  expect_only_otr_on_the_wire(log_offset_, bob.address, alice.address, {to_bob, to_alice}, 2);
  expect_no_otr_shown(alice);
  expect_no_otr_shown(bob);
}

// Issue 4's default: a plain message carries OTR's whitespace tag, and the
// other Sotto starts the AKE on seeing it; nobody pressed "start".
TEST_F(Otr, OpportunisticPolicyGoesPrivateAfterTheFirstPlainMessage) {
  auto [alice, bob] = friends();
  EXPECT_EQ(alice.rpc->call("otr.policy")["policy"], "opportunistic");
  const std::string hello = "hello in plain " + unique("hello");
  json sent = send_message(alice, bob.address, hello);
  EXPECT_FALSE(sent.value("encrypted", true)) << sent.dump();
  json got = wait_message(bob, hello);  // the exact text: the tag is not shown
  EXPECT_FALSE(got.value("encrypted", true)) << got.dump();

  wait_privacy(alice, bob.address, "unverified");
  wait_privacy(bob, alice.address, "unverified");
  expect_private_message(alice, bob, secret_text("afterthetag"));

  std::vector<std::string> bodies = logged_bodies(log_offset_, alice.address, bob.address);
  ASSERT_FALSE(bodies.empty());
  EXPECT_TRUE(bodies.front().starts_with(hello)) << bodies.front();
  EXPECT_NE(bodies.front().find(" \t  \t\t\t\t \t \t \t  "), std::string::npos)
      << "no OTR whitespace tag after the plain text";
}

TEST_F(Otr, SmpQuestionAndAnswerVerifiesTheContact) {
  auto [alice, bob] = friends();
  const std::string bob_fp = otr_key(bob);
  const std::string alice_fp = otr_key(alice);
  go_private(alice, bob);

  const std::string question = "Where did we first meet?";
  alice.rpc->call("otr.smpAsk", {{"account", alice.address},
                                 {"peer", bob.address},
                                 {"question", question},
                                 {"secret", "Lisbon"}});
  json asked = wait_smp(bob, alice.address, "asked_question");
  EXPECT_EQ(asked.value("question", ""), question);
  bob.rpc->call("otr.smpAnswer",
                {{"account", bob.address}, {"peer", alice.address}, {"answer", "Lisbon"}});

  wait_smp(alice, bob.address, "succeeded");
  wait_smp(bob, alice.address, "succeeded");
  wait_privacy(alice, bob.address, "verified");
  EXPECT_EQ(otr_status(alice, bob.address)["privacy"], "verified");
  json entry = trust_entry(alice, bob.address, bob_fp);
  EXPECT_EQ(entry.value("verified", false), true) << entry.dump();
  EXPECT_EQ(entry.value("active", false), true) << entry.dump();

  // Bob's right answer proved Bob to Alice; Alice chose the answer, so it
  // proved nothing about her to Bob (OTR's rule, as libotr, Pidgin and
  // profanity apply it): Bob's padlock stays unverified.
  EXPECT_EQ(otr_status(bob, alice.address)["privacy"], "unverified");
  EXPECT_EQ(trust_entry(bob, alice.address, alice_fp).value("verified", true), false);
  for (const json& e : events_of(bob, "otr.privacy")) {
    EXPECT_NE(e.value("privacy", ""), "verified") << e.dump();
  }
  expect_private_message(alice, bob, secret_text("verified"));
}

TEST_F(Otr, SmpWrongAnswerFailsOnBothSides) {
  auto [alice, bob] = friends();
  const std::string bob_fp = otr_key(bob);
  go_private(alice, bob);

  alice.rpc->call("otr.smpAsk", {{"account", alice.address},
                                 {"peer", bob.address},
                                 {"question", "Where did we first meet?"},
                                 {"secret", "Lisbon"}});
  wait_smp(bob, alice.address, "asked_question");
  bob.rpc->call("otr.smpAnswer",
                {{"account", bob.address}, {"peer", alice.address}, {"answer", "Porto"}});
  wait_smp(alice, bob.address, "failed");
  wait_smp(bob, alice.address, "failed");

  EXPECT_EQ(otr_status(alice, bob.address)["privacy"], "unverified");
  EXPECT_EQ(otr_status(bob, alice.address)["privacy"], "unverified");
  EXPECT_EQ(trust_entry(alice, bob.address, bob_fp).value("verified", true), false);
  for (const User* user : {&alice, &bob}) {
    for (const json& e : events_of(*user, "otr.privacy")) {
      EXPECT_NE(e.value("privacy", ""), "verified") << e.dump();
    }
    for (const json& e : events_of(*user, "otr.smp")) {
      EXPECT_NE(e.value("stage", ""), "succeeded") << e.dump();
    }
  }
  // Still private.
  expect_private_message(alice, bob, secret_text("afterfail"));
  expect_private_message(bob, alice, secret_text("afterfailback"));
}

// No question: both type the secret they share. A mismatch fails; the same
// secret then verifies both sides.
TEST_F(Otr, SharedSecretMismatchFailsAndAMatchVerifiesBothSides) {
  auto [alice, bob] = friends();
  const std::string alice_fp = otr_key(alice);
  const std::string bob_fp = otr_key(bob);
  go_private(alice, bob);

  alice.rpc->call(
      "otr.smpAsk",
      {{"account", alice.address}, {"peer", bob.address}, {"secret", "correct horse battery"}});
  json asked = wait_smp(bob, alice.address, "asked_secret");
  EXPECT_EQ(asked.value("question", ""), "") << asked.dump();
  bob.rpc->call("otr.smpAnswer",
                {{"account", bob.address}, {"peer", alice.address}, {"answer", "wrong horse"}});
  wait_smp(alice, bob.address, "failed");
  wait_smp(bob, alice.address, "failed");
  EXPECT_EQ(otr_status(alice, bob.address)["privacy"], "unverified");
  EXPECT_EQ(otr_status(bob, alice.address)["privacy"], "unverified");

  alice.rpc->call(
      "otr.smpAsk",
      {{"account", alice.address}, {"peer", bob.address}, {"secret", "correct horse battery"}});
  wait_smp(bob, alice.address, "asked_secret");
  bob.rpc->call(
      "otr.smpAnswer",
      {{"account", bob.address}, {"peer", alice.address}, {"answer", "correct horse battery"}});
  wait_smp(alice, bob.address, "succeeded");
  wait_smp(bob, alice.address, "succeeded");
  wait_privacy(alice, bob.address, "verified");
  wait_privacy(bob, alice.address, "verified");
  EXPECT_EQ(trust_entry(alice, bob.address, bob_fp).value("verified", false), true);
  EXPECT_EQ(trust_entry(bob, alice.address, alice_fp).value("verified", false), true);
  EXPECT_EQ(otr_status(bob, alice.address)["privacy"], "verified");
}

TEST_F(Otr, SmpAbortedHalfwayIsReportedAndTheConversationCarriesOn) {
  auto [alice, bob] = friends();
  go_private(alice, bob);

  alice.rpc->call("otr.smpAsk", {{"account", alice.address},
                                 {"peer", bob.address},
                                 {"question", "Our first cat?"},
                                 {"secret", "Mimi"}});
  wait_smp(bob, alice.address, "asked_question");
  bob.rpc->call("otr.smpAbort", {{"account", bob.address}, {"peer", alice.address}});
  wait_smp(alice, bob.address, "aborted");

  // Still private, still unverified, messages both ways.
  expect_private_message(alice, bob, secret_text("afterabort"));
  expect_private_message(bob, alice, secret_text("afterabortback"));
  EXPECT_EQ(otr_status(alice, bob.address)["privacy"], "unverified");
  EXPECT_EQ(otr_status(bob, alice.address)["privacy"], "unverified");

  // A new verification after the aborted one works.
  alice.rpc->call("otr.smpAsk", {{"account", alice.address},
                                 {"peer", bob.address},
                                 {"question", "Our first cat?"},
                                 {"secret", "Mimi"}});
  wait_smp(bob, alice.address, "asked_question");
  bob.rpc->call("otr.smpAnswer",
                {{"account", bob.address}, {"peer", alice.address}, {"answer", "Mimi"}});
  wait_smp(alice, bob.address, "succeeded");
  wait_privacy(alice, bob.address, "verified");
}

// Bob verified by fingerprint, then a new key (a reinstall, another device,
// or an attacker): Alice is told loudly and her padlock drops to unverified.
TEST_F(Otr, AChangedFingerprintIsFlaggedAndUnverifies) {
  auto [alice, bob] = friends();
  const std::string old_fp = otr_key(bob);
  go_private(alice, bob);
  alice.rpc->call("otr.verify",
                  {{"account", alice.address}, {"peer", bob.address}, {"fingerprint", old_fp}});
  wait_privacy(alice, bob.address, "verified");

  json regenerated = bob.rpc->call("otr.keygen", {{"account", bob.address}}, 60s);
  const std::string new_fp = regenerated.value("fingerprint", "");
  EXPECT_TRUE(std::regex_match(new_fp, kFingerprint)) << regenerated.dump();
  ASSERT_NE(new_fp, old_fp);
  EXPECT_EQ(bob.rpc->call("otr.fingerprint", {{"account", bob.address}})["fingerprint"], new_fp);
  wait_event_of(bob, "otr.key", [&](const json& e) {
    return e.value("stage", "") == "ready" && e.value("fingerprint", "") == new_fp;
  });

  alice.rpc->call("otr.start", {{"account", alice.address}, {"peer", bob.address}});  // refresh
  json changed = wait_event_of(alice, "otr.key.changed",
                               [&](const json& e) { return e.value("peer", "") == bob.address; });
  EXPECT_EQ(changed["fingerprint"], new_fp);
  EXPECT_NE(std::find(changed["known"].begin(), changed["known"].end(), json(old_fp)),
            changed["known"].end())
      << changed.dump();
  wait_privacy(alice, bob.address, "unverified");
  json status = otr_status(alice, bob.address);
  EXPECT_EQ(status["privacy"], "unverified");
  EXPECT_EQ(status["fingerprint"], new_fp);

  json old_entry = trust_entry(alice, bob.address, old_fp);
  EXPECT_EQ(old_entry.value("verified", false), true) << old_entry.dump();
  EXPECT_EQ(old_entry.value("active", true), false) << old_entry.dump();
  json new_entry = trust_entry(alice, bob.address, new_fp);
  EXPECT_EQ(new_entry.value("verified", true), false) << new_entry.dump();
  EXPECT_EQ(new_entry.value("active", false), true) << new_entry.dump();
  expect_private_message(alice, bob, secret_text("newkey"));

  // The key in use cannot be forgotten; the old one can.
  json in_use = alice.rpc->call_raw(
      "otr.forget", {{"account", alice.address}, {"peer", bob.address}, {"fingerprint", new_fp}});
  ASSERT_TRUE(in_use.contains("error")) << in_use.dump();
  EXPECT_EQ(in_use["error"]["data"]["errc"], "not_allowed");
  alice.rpc->call("otr.forget",
                  {{"account", alice.address}, {"peer", bob.address}, {"fingerprint", old_fp}});
  for (const json& entry : alice.rpc->call("otr.trust", {{"account", alice.address}})) {
    EXPECT_NE(entry.value("fingerprint", ""), old_fp) << entry.dump();
  }
}

// "require" towards a client that has no OTR: every message is held (and the
// user told why), only OTR queries leave, nothing in plain text. Once Bob
// turns up with an OTR client, the held messages go out encrypted, in order.
TEST_F(Otr, RequireNeverSendsPlainTextToAPeerWithoutOtr) {
  User alice = otr_user("alice");
  auto [bob_address, bob_password] = server_account("bob");
  PlainXmppPeer bob_plain(*server_, bob_address, bob_password);
  auto [carol_address, carol_password] = server_account("carol");  // offline: the barrier

  alice.rpc->call("otr.setPolicy",
                  {{"policy", "require"}, {"account", alice.address}, {"peer", bob_address}});
  json policy = alice.rpc->call("otr.policy", {{"account", alice.address}, {"peer", bob_address}});
  EXPECT_EQ(policy["policy"], "require");
  EXPECT_EQ(policy["contact_policy"], true);
  EXPECT_EQ(alice.rpc->call("otr.policy")["policy"], "opportunistic") << "the global one stays";

  const std::vector<std::string> texts = {secret_text("first"), secret_text("second"),
                                          secret_text("third")};
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    json sent = send_message(alice, bob_address, texts[i]);
    EXPECT_TRUE(sent.value("held", false)) << sent.dump();
    EXPECT_TRUE(sent.value("encrypted", false)) << "it will leave inside OTR: " << sent.dump();
    ids.push_back(sent["id"]);
    json held = wait_event_of(alice, "message.held",
                              [&](const json& e) { return e.value("id", "") == sent["id"]; });
    EXPECT_EQ(held["peer"], bob_address);
    EXPECT_EQ(held.value("held", 0u), i + 1) << held.dump();
    EXPECT_FALSE(held.value("reason", "").empty()) << held.dump();
  }
  // Alice's Sotto asked Bob's client for OTR: a query is OTR too.
  bob_plain.wait_message([](const xmpp::Message& m) { return m.body.starts_with("?OTR"); });
  // A message Alice sends after the held ones reached the server, so
  // anything Alice ever wrote to Bob before it is in the server's log.
  json barrier = send_message(alice, carol_address, "barrier");
  wait_sent(alice, barrier["id"]);

  for (const xmpp::Message& m : bob_plain.messages()) {
    EXPECT_TRUE(m.body.starts_with("?OTR")) << "Bob's plain client got: " << m.body;
  }
  expect_only_otr_on_the_wire(log_offset_, alice.address, bob_address, texts);
  json status = otr_status(alice, bob_address);
  EXPECT_EQ(status["privacy"], "not_private");
  EXPECT_EQ(status["held"], 3) << status.dump();
  EXPECT_EQ(status["policy"], "require");
  EXPECT_EQ(status["contact_policy"], true);
  for (const json& e : events_of(alice, "message.state")) {
    if (std::find(ids.begin(), ids.end(), e.value("id", "")) == ids.end()) continue;
    EXPECT_EQ(e["state"], "queued") << "a held message went out: " << e.dump();
  }

  // Bob comes back with an OTR client (Sotto, same account) and starts OTR.
  User bob = sotto_for(bob_address, bob_password);
  bob.rpc->call("otr.start", {{"account", bob.address}, {"peer", alice.address}});
  wait_privacy(alice, bob_address, "unverified");
  wait_privacy(bob, alice.address, "unverified");
  for (const std::string& text : texts) {
    json got = received_from(bob, alice.address);
    EXPECT_EQ(got["body"], text) << "held messages arrive in order";
    EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  }
  for (const std::string& id : ids) wait_sent(alice, id);
  EXPECT_EQ(otr_status(alice, bob_address)["held"], 0);

  expect_only_otr_on_the_wire(log_offset_, alice.address, bob_address, texts, 4);
  for (const xmpp::Message& m : bob_plain.messages()) {
    EXPECT_TRUE(m.body.starts_with("?OTR")) << "Bob's plain client got: " << m.body;
  }
  expect_no_otr_shown(bob);
}

// "require" towards a contact with OTR: the message waits for the AKE that
// Sotto starts by itself, then goes out encrypted.
TEST_F(Otr, RequireStartsOtrAndSendsTheHeldMessageOncePrivate) {
  auto [alice, bob] = friends();
  alice.rpc->call("otr.setPolicy",
                  {{"policy", "require"}, {"account", alice.address}, {"peer", bob.address}});
  const std::string text = secret_text("held");
  json sent = send_message(alice, bob.address, text);
  EXPECT_TRUE(sent.value("held", false)) << sent.dump();
  EXPECT_TRUE(sent.value("encrypted", false)) << "it will leave inside OTR: " << sent.dump();
  wait_event_of(alice, "message.held",
                [&](const json& e) { return e.value("id", "") == sent["id"]; });
  json got = wait_message(bob, text);
  EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  wait_privacy(alice, bob.address, "unverified");
  wait_sent(alice, sent["id"]);
  expect_only_otr_on_the_wire(log_offset_, alice.address, bob.address, {text}, 2);
}

TEST_F(Otr, HistoryRecordsWhetherEachMessageWasEncrypted) {
  auto [alice, bob] = friends();
  for (User* user : {&alice, &bob}) user->rpc->call("otr.setPolicy", {{"policy", "manual"}});
  const std::string plain = "said in plain " + unique("plain");
  EXPECT_FALSE(send_message(alice, bob.address, plain).value("encrypted", true));
  EXPECT_FALSE(wait_message(bob, plain).value("encrypted", true));

  auto [by_alice, by_bob] = go_private(alice, bob);
  EXPECT_EQ(by_alice.value("logging", false), true) << "history is on: the user is told";
  const std::string from_alice = secret_text("fromalice");
  const std::string from_bob = secret_text("frombob");
  expect_private_message(alice, bob, from_alice);
  expect_private_message(bob, alice, from_bob);

  for (auto [user, peer] : {std::pair{&alice, &bob}, std::pair{&bob, &alice}}) {
    json history =
        user->rpc->call("history.show", {{"account", user->address}, {"peer", peer->address}});
    std::map<std::string, json> by_body;
    for (const json& m : history) {
      EXPECT_FALSE(m.value("body", "").starts_with("?OTR")) << m.dump();
      by_body[m.value("body", "")] = m;
    }
    ASSERT_EQ(by_body.count(plain), 1u) << history.dump();
    ASSERT_EQ(by_body.count(from_alice), 1u) << history.dump();
    ASSERT_EQ(by_body.count(from_bob), 1u) << history.dump();
    EXPECT_EQ(by_body[plain]["encrypted"], false) << user->address;
    EXPECT_EQ(by_body[from_alice]["encrypted"], true) << user->address;
    EXPECT_EQ(by_body[from_bob]["encrypted"], true) << user->address;
    EXPECT_EQ(by_body[from_alice]["outgoing"], user == &alice);
    EXPECT_EQ(by_body[from_bob]["outgoing"], user == &bob);
  }

  // The profile holds history, keys and trust encrypted: none of the texts,
  // addresses or fingerprints (libotr writes them as 40 hex digits) shows.
  std::vector<std::string> needles = {from_alice, from_bob, plain, alice.address, bob.address};
  for (User* user : {&alice, &bob}) {
    std::string fp = otr_key(*user);
    std::string hex;
    for (char c : fp) {
      if (c != ' ') hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    needles.push_back(hex);
  }
  for (User* user : {&alice, &bob}) {
    EXPECT_EQ(files_containing(user->profile(), needles), std::vector<std::string>{});
  }

  // "This conversation is being logged — turn off": Bob turns it off.
  EXPECT_EQ(otr_status(bob, alice.address)["logging"], true);
  bob.rpc->call("history.setLogging",
                {{"on", false}, {"account", bob.address}, {"peer", alice.address}});
  EXPECT_EQ(otr_status(bob, alice.address)["logging"], false);
  const std::string unlogged = secret_text("unlogged");
  expect_private_message(alice, bob, unlogged);
  for (const json& m :
       bob.rpc->call("history.show", {{"account", bob.address}, {"peer", alice.address}})) {
    EXPECT_NE(m.value("body", ""), unlogged) << "kept although logging is off";
  }
}

// Garbled OTR data and a fragment stream that never completes, from a client
// that puts them on the wire by hand: reported, never shown, and the
// conversation still goes (and stays) private.
TEST_F(Otr, GarbledOtrDataIsReportedNotShown) {
  static const std::set<std::string> kGarbledCodes = {"malformed", "undecryptable",
                                                      "not_in_private", "unrecognized"};
  User alice = otr_user("alice");
  auto [bob_address, bob_password] = server_account("bob");
  PlainXmppPeer bob_plain(*server_, bob_address, bob_password);

  // An OTR v2 data message whose content is not OTR ("this is garbled by a
  // test, ..." in base64), outside a private conversation. Its flags byte
  // ('t') is even: with OTRL_MSGFLAGS_IGNORE_UNREADABLE (bit 0) set, libotr
  // would drop it silently, as OTR prescribes for heartbeats.
  bob_plain.send(alice.address,
                 "?OTR:AAIDdGhpcyBpcyBnYXJibGVkIGJ5IGEgdGVzdCwgbm90IGFuIE9UUiBtZXNzYWdl.");
  json problem = wait_event_of(alice, "otr.problem",
                               [&](const json& e) { return e.value("peer", "") == bob_address; });
  EXPECT_EQ(kGarbledCodes.count(problem.value("code", "")), 1u) << problem.dump();
  EXPECT_FALSE(problem.value("message", "").empty()) << problem.dump();
  // The first of three fragments, never followed by the others.
  bob_plain.send(alice.address, "?OTR,1,3,?OTR:AAIDdHJ1bmNhdGVk,");
  // Same stream, so it arrives after both: they were not shown before it.
  const std::string plain = "plain after the garbage " + unique("p");
  bob_plain.send(alice.address, plain);
  EXPECT_FALSE(wait_message(alice, plain).value("encrypted", true));
  expect_no_otr_shown(alice);
  EXPECT_EQ(otr_status(alice, bob_address)["privacy"], "not_private");

  // Bob's OTR client (Sotto, same account) goes private with Alice.
  User bob = sotto_for(bob_address, bob_password);
  auto [seen_by_bob, seen_by_alice] = go_private(bob, alice);
  expect_private_message(alice, bob, secret_text("aftergarbage"));
  expect_private_message(bob, alice, secret_text("aftergarbageback"));

  // Garbled data again, now inside the private conversation: an OTR v3 data
  // message between the two instances that are private (a v2 one, without
  // instance tags, would be taken for traffic of another instance, which is
  // rightly not reported), with a body that is not OTR.
  const std::uint32_t bob_instance = seen_by_alice.value("instance", 0u);
  const std::uint32_t alice_instance = seen_by_bob.value("instance", 0u);
  ASSERT_NE(bob_instance, 0u);
  ASSERT_NE(alice_instance, 0u);
  std::string data = {0, 3, 3};  // protocol version 3, data message
  for (std::uint32_t tag : {bob_instance, alice_instance}) {
    for (int shift = 24; shift >= 0; shift -= 8) data += static_cast<char>((tag >> shift) & 0xff);
  }
  data += '\0';  // flags: not "ignore if unreadable"
  data += "this is not an OTR data message, just bytes";
  const std::size_t problems_before = events_of(alice, "otr.problem").size();
  const std::size_t padlock_changes = events_of(alice, "otr.privacy").size();
  const std::uintmax_t before_garbage = server_log_size();
  bob_plain.send(alice.address, "?OTR:" + base64(data) + ".");

  const std::string plain_while_private = "plain while private " + unique("p");
  bob_plain.send(alice.address, plain_while_private);
  json shown = wait_message(alice, plain_while_private);
  EXPECT_FALSE(shown.value("encrypted", true)) << "a plain message is never marked encrypted";
  std::vector<json> problems = events_of(alice, "otr.problem");
  ASSERT_GE(problems.size(), problems_before + 1) << "the garbled data was not reported";
  bool garbled = false;
  bool unencrypted = false;
  for (std::size_t i = problems_before; i < problems.size(); ++i) {
    garbled = garbled || kGarbledCodes.count(problems[i].value("code", "")) == 1;
    unencrypted = unencrypted || problems[i].value("code", "") == "unencrypted";
  }
  std::string reported;
  for (std::size_t i = problems_before; i < problems.size(); ++i) reported += problems[i].dump();
  EXPECT_TRUE(garbled) << "no report of the garbled data; reported: " << reported;
  EXPECT_TRUE(unencrypted) << "a plain message inside a private conversation is not flagged; "
                           << "reported: " << reported;
  expect_no_otr_shown(alice);
  EXPECT_EQ(otr_status(alice, bob_address)["privacy"], "unverified");

  // The conversation carries on as it was. Alice's Sotto answered the garbage
  // with an OTR error to Bob's plain client; Bob's OTR client sees only a
  // carbon copy of that, which is not addressed to it: no new key exchange,
  // no flicker of Alice's padlock.
  bob_plain.wait_message([](const xmpp::Message& m) { return m.body.starts_with("?OTR Error"); });
  // The server copies to Bob's Sotto in order: once it shows the copy of a
  // later message of the plain client, it has seen the error's copy...
  const std::string later = "later from the plain client " + unique("p");
  bob_plain.send(alice.address, later);
  wait_event_of(bob, "message.received", [&](const json& e) {
    return e.value("body", "") == later && e.value("outgoing", false);
  });
  // ...and anything it sent in reaction precedes its next message.
  expect_private_message(bob, alice, secret_text("stillprivate"));
  for (const std::string& body : logged_bodies(before_garbage, bob_address, alice.address)) {
    EXPECT_FALSE(body.starts_with("?OTRv") || body.starts_with("?OTR:AAMC"))
        << "Bob's Sotto restarted the key exchange: " << body.substr(0, 60);
  }
  std::vector<json> padlock = events_of(alice, "otr.privacy");
  for (std::size_t i = padlock_changes; i < padlock.size(); ++i) {
    ADD_FAILURE() << "Alice's padlock changed after the garbage: " << padlock[i].dump();
  }
}

// Bob is private with Alice from Sotto and also online from a client without
// OTR (his phone), which says something in plain. Alice's next private
// message still goes to Bob's OTR client, the one that can read it.
TEST_F(Otr, APlainClientOfTheContactDoesNotDivertThePrivateConversation) {
  User alice = otr_user("alice");
  auto [bob_address, bob_password] = server_account("bob");
  User bob = sotto_for(bob_address, bob_password);
  PlainXmppPeer bob_phone(*server_, bob_address, bob_password, "phone");
  auto [seen_by_bob, seen_by_alice] = go_private(bob, alice);
  const std::string otr_resource = seen_by_alice.value("resource", "");
  ASSERT_FALSE(otr_resource.empty()) << seen_by_alice.dump();
  expect_private_message(alice, bob, secret_text("beforephone"));

  const std::string from_phone = "from my phone " + unique("p");
  bob_phone.send(alice.address, from_phone);
  EXPECT_FALSE(wait_message(alice, from_phone).value("encrypted", true));

  const std::uintmax_t before_reply = server_log_size();
  const std::string reply = secret_text("reply");
  json sent = send_message(alice, bob.address, reply);
  EXPECT_TRUE(sent.value("encrypted", false)) << sent.dump();
  wait_sent(alice, sent["id"]);
  bool found = false;
  for (const LoggedMessage& m : parse_logged_messages(server_log_since(before_reply))) {
    if (!m.from_client || m.id != sent["id"]) continue;
    found = true;
    EXPECT_EQ(m.to, bob_address + "/" + otr_resource)
        << "Alice's private message went to a client that cannot read it";
  }
  EXPECT_TRUE(found) << "Alice's message " << sent["id"] << " is not in the server's log";
  json got = wait_message(bob, reply);
  EXPECT_TRUE(got.value("encrypted", false)) << got.dump();
  for (const xmpp::Message& m : bob_phone.messages()) {
    EXPECT_NE(m.body, reply) << "the phone got the plaintext";
  }
}

// Carbons (XEP-0280) copy to Sotto the messages of the user's other devices.
// OTR traffic in them belongs to the other device's conversation (XEP-0364):
// Sotto must not answer it, or it takes the conversation over.
TEST_F(Otr, OtrMessagesForTheUsersOtherDeviceAreLeftAlone) {
  User bob = otr_user("bob");
  PlainXmppPeer bob_phone(*server_, bob.address, bob.password, "phone");
  auto [carol_address, carol_password] = server_account("carol");
  PlainXmppPeer carol(*server_, carol_address, carol_password);

  // Carol's client asks Bob's phone for OTR; Bob's Sotto sees a carbon copy.
  carol.send(bob.address + "/phone", "?OTRv23? Carol asks the phone for OTR");
  const std::string after = "after the query " + unique("p");
  carol.send(bob.address + "/phone", after);
  wait_message(bob, after);  // the copy of the message after it, so the query was handled
  // Whatever Bob's Sotto wrote to Carol before this, Carol has it before this.
  const std::string back = "reply from the desk " + unique("p");
  send_message(bob, carol_address, back);
  carol.wait_message([&](const xmpp::Message& m) { return m.body.starts_with(back); });

  for (const xmpp::Message& m : carol.messages()) {
    EXPECT_FALSE(m.body.starts_with("?OTR")) << "Bob's Sotto answered the phone's OTR: " << m.body;
  }
  EXPECT_EQ(otr_status(bob, carol_address)["privacy"], "not_private");
  for (const json& e : events_of(bob, "otr.privacy")) ADD_FAILURE() << e.dump();
}

// Someone who can put stanzas on the wire in Bob's name (the server, say)
// replays Bob's last encrypted message: it is reported, never shown twice.
TEST_F(Otr, AReplayedMessageIsReportedAndNotShownTwice) {
  User alice = otr_user("alice");
  auto [bob_address, bob_password] = server_account("bob");
  User bob = sotto_for(bob_address, bob_password);
  PlainXmppPeer bob_plain(*server_, bob_address, bob_password);
  go_private(bob, alice);
  const std::size_t logged_before = server_log_size();

  const std::string text = secret_text("once");
  expect_private_message(bob, alice, text);
  std::string replayed;
  for (const std::string& body : logged_bodies(logged_before, bob_address, alice.address)) {
    if (body.starts_with("?OTR:AAMD")) replayed = body;  // an OTR v3 data message
  }
  ASSERT_FALSE(replayed.empty()) << "no data message from Bob in the server's log";

  const std::size_t problems_before = events_of(alice, "otr.problem").size();
  bob_plain.send(alice.address, replayed);
  const std::string after = "plain after the replay " + unique("p");  // same stream: a barrier
  bob_plain.send(alice.address, after);
  wait_message(alice, after);

  std::size_t shown = 0;
  for (const json& e : events_of(alice, "message.received")) {
    if (e.value("body", "") == text) ++shown;
  }
  EXPECT_EQ(shown, 1u) << "the replayed message was shown again";
  std::vector<json> problems = events_of(alice, "otr.problem");
  bool reported = false;
  std::string codes;
  for (std::size_t i = problems_before; i < problems.size(); ++i) {
    const std::string code = problems[i].value("code", "");
    codes += code + " ";
    reported = reported || code == "undecryptable" || code == "malformed";
  }
  EXPECT_TRUE(reported) << "the replay was not reported; problems: " << codes;
  std::cout << "[ otr ] the replay was reported as: " << codes << "\n";
  EXPECT_EQ(otr_status(alice, bob_address)["privacy"], "unverified");
  expect_private_message(bob, alice, secret_text("afterreplay"));
}

// Larger than Prosody's stanza limit (c2s_stanza_size_limit, 256 KiB by
// default) once encrypted: only OTR fragmentation gets it through.
TEST_F(Otr, AMessageLongerThanTheServerAllowsIsFragmentedAndArrivesWhole) {
  constexpr std::size_t kServerLimit = 256 * 1024;
  auto [alice, bob] = friends();
  go_private(alice, bob);

  std::string text = secret_text("long") + "\n";
  for (int line = 0; text.size() < 200 * 1000; ++line) {
    text += "line " + std::to_string(line) + ": the quick brown fox jumps over the lazy dog é\n";
  }
  json sent = send_message(alice, bob.address, text);
  EXPECT_TRUE(sent.value("encrypted", false));
  json got = wait_message(bob, text, 60s);
  EXPECT_TRUE(got.value("encrypted", false));
  wait_sent(alice, sent["id"], 60s);

  std::size_t fragments = 0;
  for (const std::string& body : logged_bodies(log_offset_, alice.address, bob.address)) {
    EXPECT_LT(body.size(), kServerLimit);
    if (body.starts_with("?OTR|") || body.starts_with("?OTR,")) ++fragments;
  }
  EXPECT_GT(fragments, 1u) << "not fragmented";
  std::cout << "[ otr ] " << text.size() << " bytes went as " << fragments << " fragments\n";
  expect_only_otr_on_the_wire(log_offset_, alice.address, bob.address,
                              {text.substr(0, text.find('\n')), "jumps over the lazy dog"});
  expect_private_message(bob, alice, secret_text("afterlong"));
}

// Bob quits while private: Sotto tells Alice's client (her padlock says
// "finished", so she does not type into a conversation nobody reads), and
// quitting takes no longer than without OTR (everything was acknowledged:
// the 3 s grace for unacknowledged messages has nothing to wait for).
TEST_F(Otr, QuittingEndsThePrivateConversationWithoutDelay) {
  auto [alice, bob] = friends();
  go_private(alice, bob);
  expect_private_message(bob, alice, secret_text("beforequit"));

  const auto started = std::chrono::steady_clock::now();
  stop_rpc(bob);
  const auto took = std::chrono::steady_clock::now() - started;
  wait_privacy(alice, bob.address, "finished");
  EXPECT_LT(took, 1500ms) << "sotto rpc took "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms to quit";
}

// Bob ends the private conversation: Alice's padlock says "finished" and
// nothing she types goes out (not even in plain) until she ends or refreshes.
TEST_F(Otr, EndedByThePeerRefusesToSendUntilTheUserDecides) {
  auto [alice, bob] = friends();
  go_private(alice, bob);

  bob.rpc->call("otr.end", {{"account", bob.address}, {"peer", alice.address}});
  wait_privacy(bob, alice.address, "not_private");
  wait_privacy(alice, bob.address, "finished");
  EXPECT_EQ(otr_status(alice, bob.address)["privacy"], "finished");

  const std::string refused_text = secret_text("afterend");
  json refused = alice.rpc->call_raw(
      "message.send", {{"account", alice.address}, {"to", bob.address}, {"body", refused_text}});
  ASSERT_TRUE(refused.contains("error")) << "sent after the peer ended OTR: " << refused.dump();
  EXPECT_EQ(refused["error"]["data"]["errc"], "not_allowed") << refused.dump();

  alice.rpc->call("otr.end", {{"account", alice.address}, {"peer", bob.address}});
  wait_privacy(alice, bob.address, "not_private");
  // Now plain text is what Alice chose; on the same stream, after the refused one.
  const std::string plain = "plain again " + unique("p");
  EXPECT_FALSE(send_message(alice, bob.address, plain).value("encrypted", true));
  EXPECT_FALSE(wait_message(bob, plain).value("encrypted", true));
  for (const json& e : events_of(bob, "message.received")) {
    EXPECT_NE(e.value("body", ""), refused_text);
  }
  EXPECT_EQ(server_log_since(log_offset_).find(refused_text), std::string::npos);
}

}  // namespace
}  // namespace sotto::test

namespace sotto::test {
namespace {

// A message held by "require" that never could go out is not left "queued"
// for ever: going offline drops it, and says so in its state and history.
TEST_F(Otr, HeldMessagesFailWhenTheAccountGoesOffline) {
  User alice = otr_user("alice");
  auto [bob_address, bob_password] = server_account("bob");  // never online
  alice.rpc->call("otr.setPolicy",
                  {{"policy", "require"}, {"account", alice.address}, {"peer", bob_address}});
  const std::string text = secret_text("neversent");
  json sent = send_message(alice, bob_address, text);
  ASSERT_TRUE(sent.value("held", false)) << sent.dump();

  alice.rpc->call("account.disconnect", {{"address", alice.address}});
  json failed = alice.rpc->wait_event([&](const json& e) {
    return e.value("type", "") == "message.state" && e.value("id", "") == sent["id"] &&
           e.value("state", "") == "failed";
  });
  EXPECT_FALSE(failed.value("error", json::object()).value("message", "").empty()) << failed.dump();
  json history =
      alice.rpc->call("history.show", {{"account", alice.address}, {"peer", bob_address}});
  ASSERT_EQ(history.size(), 1u) << history.dump();
  EXPECT_EQ(history[0]["state"], "failed") << history.dump();
  for (const LoggedMessage& m : parse_logged_messages(server_log_since(0))) {
    if (!m.body) continue;
    EXPECT_EQ(m.body->find(text), std::string::npos) << *m.body;
  }
}

}  // namespace
}  // namespace sotto::test
