// The account logic (roster, subscriptions, presence, messages, receipts,
// carbons) over a scripted stream: the test plays the server.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>

#include "sotto/xmpp/testing.h"
#include "sotto/xmpp/xml.h"

namespace sotto::xmpp {
namespace {

struct Recorder : ClientListener {
  std::vector<std::pair<ConnectionState, std::optional<Error>>> states;
  std::vector<std::vector<RosterItem>> rosters;
  std::vector<RosterItem> items;
  std::vector<Jid> removed;
  std::vector<Presence> presences;
  std::vector<Jid> requests;
  std::vector<Jid> denials;
  std::vector<Message> messages;
  std::vector<std::string> sent;
  std::vector<std::string> delivered;
  std::vector<Error> errors;

  void on_state(ConnectionState s, const std::optional<Error>& e) override {
    states.emplace_back(s, e);
  }
  void on_roster(const std::vector<RosterItem>& r) override { rosters.push_back(r); }
  void on_roster_item(const RosterItem& i) override { items.push_back(i); }
  void on_roster_removed(const Jid& j) override { removed.push_back(j); }
  void on_presence(const Presence& p) override { presences.push_back(p); }
  void on_subscription_request(const Jid& j, const std::string&) override { requests.push_back(j); }
  void on_subscription_denied(const Jid& j) override { denials.push_back(j); }
  void on_message(const Message& m) override { messages.push_back(m); }
  void on_message_sent(const Jid&, const std::string& id) override { sent.push_back(id); }
  void on_message_delivered(const Jid&, const std::string& id) override { delivered.push_back(id); }
  void on_message_error(const Jid&, const std::string&, const Error& e) override {
    errors.push_back(e);
  }
};

std::vector<Element> stanzas_in(const std::string& written) {
  std::vector<Element> out;
  StreamParser parser({nullptr, [&](Element e) { out.push_back(std::move(e)); }, nullptr});
  (void)parser.feed(
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
      "version='1.0'>");
  (void)parser.feed(written);
  return out;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_unique<testing::OfflineClient>(io_.get_executor(), recorder_);
    ASSERT_TRUE(client_->online());
    // Answer the initial roster request with Bob in it.
    for (const Element& e : stanzas_in(client_->take_written())) {
      if (e.xmlns() == ns::client) ++stanzas_sent_;
      if (e.child("query", ns::roster)) {
        client_->feed("<iq type='result' id='" + e.attr_or("id") +
                      "'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob' "
                      "subscription='both'><group>Friends</group></item></query></iq>");
      }
    }
    client_->take_written();
  }

  asio::io_context io_;
  uint32_t stanzas_sent_ = 0;  // since <enable/>, as the server counts them
  Recorder recorder_;
  std::unique_ptr<testing::OfflineClient> client_;
};

TEST_F(ClientTest, LoadsTheRosterAndGoesOnline) {
  ASSERT_EQ(recorder_.rosters.size(), 1u);
  ASSERT_EQ(recorder_.rosters[0].size(), 1u);
  EXPECT_EQ(recorder_.rosters[0][0].jid.str(), "bob@localhost");
  EXPECT_EQ(recorder_.rosters[0][0].groups, std::vector<std::string>{"Friends"});
  EXPECT_EQ(recorder_.states.back().first, ConnectionState::online);
}

TEST_F(ClientTest, AppliesRosterPushesFromTheServerOnly) {
  client_->feed(
      "<iq type='set' id='p1' from='mallory@localhost/x'><query xmlns='jabber:iq:roster'>"
      "<item jid='mallory@localhost' subscription='both'/></query></iq>");
  EXPECT_TRUE(recorder_.items.empty());
  EXPECT_EQ(client_->client().roster().size(), 1u);
  EXPECT_EQ(client_->take_written().find("id='p1'"), std::string::npos) << "no answer to a forgery";

  client_->feed(
      "<iq type='set' id='p2'><query xmlns='jabber:iq:roster'>"
      "<item jid='carol@localhost' ask='subscribe' subscription='none'/></query></iq>");
  ASSERT_EQ(recorder_.items.size(), 1u);
  EXPECT_TRUE(recorder_.items[0].waiting_for_authorization);
  EXPECT_NE(client_->take_written().find("id='p2'"), std::string::npos);

  client_->feed(
      "<iq type='set' id='p3' from='alice@localhost'><query xmlns='jabber:iq:roster'>"
      "<item jid='carol@localhost' subscription='remove'/></query></iq>");
  ASSERT_EQ(recorder_.removed.size(), 1u);
  EXPECT_EQ(recorder_.removed[0].str(), "carol@localhost");
}

TEST_F(ClientTest, ShowsAMessageOnceAndAcknowledgesReceiptToContacts) {
  const std::string message =
      "<message from='bob@localhost/phone' to='alice@localhost/test' type='chat' id='m1'>"
      "<body>hi &amp; bye</body><request xmlns='urn:xmpp:receipts'/></message>";
  client_->feed(message);
  client_->feed(message);  // resent after a reconnect on Bob's side
  ASSERT_EQ(recorder_.messages.size(), 1u);
  EXPECT_EQ(recorder_.messages[0].body, "hi & bye");
  EXPECT_EQ(recorder_.messages[0].from.str(), "bob@localhost/phone");
  auto written = stanzas_in(client_->take_written());
  ASSERT_FALSE(written.empty());
  const Element* receipt = written[0].child("received", ns::receipts);
  ASSERT_NE(receipt, nullptr);
  EXPECT_EQ(receipt->attr_or("id"), "m1");

  // A stranger gets no receipt (it would tell them we are online).
  client_->feed(
      "<message from='stranger@localhost/x' type='chat' id='s1'><body>hello?</body>"
      "<request xmlns='urn:xmpp:receipts'/></message>");
  EXPECT_EQ(recorder_.messages.size(), 2u);
  EXPECT_EQ(client_->take_written().find("urn:xmpp:receipts"), std::string::npos);
}

TEST_F(ClientTest, TakesCarbonsFromItsOwnAccountOnly) {
  client_->feed(
      "<message from='mallory@localhost' to='alice@localhost/test'><sent "
      "xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message "
      "xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' type='chat' "
      "id='c1'><body>forged</body></message></forwarded></sent></message>");
  EXPECT_TRUE(recorder_.messages.empty());

  client_->feed(
      "<message from='alice@localhost' to='alice@localhost/test'><sent "
      "xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message "
      "xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' type='chat' "
      "id='c2'><body>from my phone</body></message></forwarded></sent></message>");
  ASSERT_EQ(recorder_.messages.size(), 1u);
  EXPECT_TRUE(recorder_.messages[0].outgoing);
  EXPECT_TRUE(recorder_.messages[0].carbon);
  EXPECT_EQ(recorder_.messages[0].to.bare_str(), "bob@localhost");
}

TEST_F(ClientTest, TakesArchiveResultsOnlyForItsOwnQueries) {
  const std::string result =
      "<result xmlns='urn:xmpp:mam:2' queryid='nobody-asked' id='A1'><forwarded "
      "xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='bob@localhost/x' "
      "type='chat' id='old1'><body>from the archive</body></message></forwarded></result>";
  // From a stranger: forged. From our server (no 'from'), but unasked: dropped too.
  client_->feed("<message from='mallory@localhost'>" + result + "</message>");
  client_->feed("<message>" + result + "</message>");
  EXPECT_TRUE(recorder_.messages.empty());
}

TEST_F(ClientTest, SendsWithAReceiptRequestAndReportsServerAckAndDelivery) {
  std::string id = client_->client().send_message(*Jid::parse("bob@localhost"), "ping <3");
  auto written = stanzas_in(client_->take_written());
  ASSERT_FALSE(written.empty());
  EXPECT_EQ(written[0].attr_or("id"), id);
  EXPECT_EQ(written[0].child_text("body"), "ping <3");
  EXPECT_NE(written[0].child("request", ns::receipts), nullptr);
  EXPECT_EQ(client_->client().unacknowledged_messages(), 1u);

  io_.poll();  // the coalesced <r/>
  client_->feed("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(stanzas_sent_ + 1) + "'/>");
  EXPECT_EQ(recorder_.sent, std::vector<std::string>{id});
  EXPECT_EQ(client_->client().unacknowledged_messages(), 0u);

  client_->feed(
      "<message from='bob@localhost/phone' id='r1'><received xmlns='urn:xmpp:receipts' id='" + id +
      "'/></message>");
  EXPECT_EQ(recorder_.delivered, std::vector<std::string>{id});
}

// The recipient's receipt can overtake the server's acknowledgement: the
// message is reported delivered, and the late acknowledgement reports
// nothing more (sent after delivered would be a step back).
TEST_F(ClientTest, AReceiptBeforeTheServerAckIsNotFollowedBySent) {
  std::string id = client_->client().send_message(*Jid::parse("bob@localhost"), "quick");
  ASSERT_FALSE(stanzas_in(client_->take_written()).empty());
  io_.poll();  // the coalesced <r/>
  client_->feed(
      "<message from='bob@localhost/phone' id='r1'><received xmlns='urn:xmpp:receipts' id='" + id +
      "'/></message>");
  EXPECT_EQ(recorder_.delivered, std::vector<std::string>{id});
  client_->feed("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(stanzas_sent_ + 1) + "'/>");
  EXPECT_EQ(client_->client().unacknowledged_messages(), 0u);
  EXPECT_EQ(recorder_.sent, std::vector<std::string>{});

  // The next message goes the usual way again.
  std::string next = client_->client().send_message(*Jid::parse("bob@localhost"), "slow");
  io_.poll();
  client_->feed("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(stanzas_sent_ + 2) + "'/>");
  EXPECT_EQ(recorder_.sent, std::vector<std::string>{next});
}

TEST_F(ClientTest, TracksPresencePerResourceAndSubscriptionRequests) {
  client_->feed(
      "<presence from='bob@localhost/phone'><show>away</show><status>lunch</status></presence>");
  client_->feed("<presence from='bob@localhost/desk'/>");
  EXPECT_EQ(client_->client().presences(*Jid::parse("bob@localhost")).size(), 2u);
  client_->feed("<presence from='bob@localhost/phone' type='unavailable'/>");
  auto left = client_->client().presences(*Jid::parse("bob@localhost"));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].from.resource(), "desk");
  EXPECT_EQ(recorder_.presences[0].show, Show::away);
  EXPECT_EQ(recorder_.presences[0].status, "lunch");

  client_->feed("<presence from='dave@localhost/x' type='subscribe'/>");
  ASSERT_EQ(recorder_.requests.size(), 1u);
  EXPECT_EQ(client_->client().pending_requests().size(), 1u);
  client_->client().deny(*Jid::parse("dave@localhost"));
  EXPECT_NE(client_->take_written().find("type='unsubscribed'"), std::string::npos);
  EXPECT_TRUE(client_->client().pending_requests().empty());

  client_->feed("<presence from='erin@localhost' type='unsubscribed'/>");
  EXPECT_EQ(recorder_.denials.size(), 1u);
}

TEST_F(ClientTest, AnswersUnknownQueriesWithAnErrorAndDropsStrayAnswers) {
  client_->feed(
      "<iq type='get' id='q1' from='bob@localhost/x'><query xmlns='urn:example:unknown'/></iq>");
  auto written = stanzas_in(client_->take_written());
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].attr_or("type"), "error");
  EXPECT_NE(written[0].child("error"), nullptr);

  client_->feed("<iq type='result' id='never-asked' from='bob@localhost/x'/>");
  EXPECT_TRUE(client_->take_written().empty());
  EXPECT_TRUE(client_->online());
}

// The hook of the packet log: set and cleared on a stream that is up, and
// a password change goes by with its password redacted.
TEST_F(ClientTest, TrafficObserverComesAndGoesWithoutReconnecting) {
  std::string seen;
  client_->client().set_traffic_observer([&](Direction d, std::string_view text) {
    seen += d == Direction::send ? "SEND " : "RECV ";
    seen.append(text);
    seen += '\n';
  });
  client_->client().send_message(*Jid::parse("bob@localhost"), "seen by the log");
  client_->feed(
      "<message from='bob@localhost/phone' type='chat' id='b1'><body>back</body></message>");
  client_->client().change_password("N3w-pass", [](Result<void>) {});
  EXPECT_NE(seen.find("SEND <message"), std::string::npos) << seen;
  EXPECT_NE(seen.find("<body>seen by the log</body>"), std::string::npos) << seen;
  EXPECT_NE(seen.find("RECV <message from='bob@localhost/phone'"), std::string::npos) << seen;
  EXPECT_NE(seen.find("<password>[redacted]</password>"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("N3w-pass"), std::string::npos) << seen;
  EXPECT_NE(client_->take_written().find("<password>N3w-pass</password>"), std::string::npos)
      << "the server still gets it";

  client_->client().set_traffic_observer(nullptr);
  const std::string before = seen;
  client_->client().send_message(*Jid::parse("bob@localhost"), "not seen");
  client_->feed(
      "<message from='bob@localhost/phone' type='chat' id='b2'><body>nor this</body></message>");
  EXPECT_EQ(seen, before);
  EXPECT_TRUE(client_->online());
}

TEST_F(ClientTest, HostileXmlEndsTheStreamButNotTheProgram) {
  client_->feed(std::string(40, '<'));
  EXPECT_FALSE(client_->online());
}

}  // namespace
}  // namespace sotto::xmpp
