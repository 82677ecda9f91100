// The stream negotiation and XEP-0198 engine, driven with bytes and no network:
// the test plays the server.
#include <gtest/gtest.h>

#include "sotto/xmpp/session.h"

namespace sotto::xmpp {
namespace {

constexpr std::string_view kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>";

struct Harness {
  StreamManagement sm;
  std::vector<std::string> written;
  bool tls = false;
  int start_tls_calls = 0;
  std::optional<Error> error;
  std::vector<Element> stanzas;
  std::vector<SentStanza> acked;
  struct Online {
    Jid jid;
    bool resumed;
    std::vector<SentStanza> lost;
  };
  std::vector<Online> online;
  bool registered = false;
  std::unique_ptr<Session> session;
  // Set before make(): sees the stream from its first byte.
  TrafficObserver traffic;

  void make(SessionMode mode = SessionMode::login) {
    SessionConfig config;
    config.mode = mode;
    config.jid = *Jid::parse("alice@localhost");
    config.password = "secret";
    config.resource = "desk";
    written.clear();
    tls = false;
    start_tls_calls = 0;
    session = std::make_unique<Session>(
        config, sm,
        Session::Io{[this](std::string bytes) { written.push_back(std::move(bytes)); },
                    [this] { ++start_tls_calls; }, [this] { return tls; },
                    [] { return ChannelBindingType::none; }, [] { return std::string(); }},
        Session::Events{
            [this](const Jid& jid, bool resumed, std::vector<SentStanza> lost) {
              online.push_back({jid, resumed, std::move(lost)});
            },
            [this](Element e) { stanzas.push_back(std::move(e)); },
            [this](std::vector<SentStanza> a) { acked.insert(acked.end(), a.begin(), a.end()); },
            [this](Error e) { error = std::move(e); }, [this] { registered = true; }});
    if (traffic) session->set_traffic_observer(traffic);
    session->start();
  }

  std::string last() const { return written.empty() ? std::string() : written.back(); }

  void feed(std::string_view bytes) { session->on_data(bytes); }

  // Runs STARTTLS up to the server's header on the encrypted stream.
  void through_tls() {
    feed(kHeader);
    feed("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>");
    EXPECT_NE(last().find("<starttls"), std::string::npos);
    feed("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    EXPECT_EQ(start_tls_calls, 1);
    tls = true;
    session->on_tls_ready();
    EXPECT_NE(last().find("<stream:stream"), std::string::npos);
    feed(kHeader);
  }

  // Runs the login up to the features after SASL (PLAIN inside TLS).
  void login_until_bound_features(std::string_view post_auth_features) {
    through_tls();
    feed(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
        "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
    EXPECT_NE(last().find("mechanism='PLAIN'"), std::string::npos);
    feed("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    EXPECT_NE(last().find("<stream:stream"), std::string::npos);
    feed(kHeader);
    feed(post_auth_features);
  }

  std::string bind_id() const {
    auto iq = parse_element(last());
    return iq ? iq->attr_or("id") : std::string();
  }
};

constexpr std::string_view kFeaturesWithSm =
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
    "<sm xmlns='urn:xmpp:sm:3'/></stream:features>";

Element chat(std::string_view id) {
  Element message("message", "jabber:client");
  message.set_attr("to", "bob@localhost");
  message.set_attr("id", std::string(id));
  message.add_child("body", "jabber:client").add_text("hi");
  return message;
}

void go_online_with_sm(Harness& h) {
  h.login_until_bound_features(kFeaturesWithSm);
  ASSERT_NE(h.last().find("urn:ietf:params:xml:ns:xmpp-bind"), std::string::npos);
  h.feed("<iq type='result' id='" + h.bind_id() +
         "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/desk</jid></bind>"
         "</iq>");
  ASSERT_NE(h.last().find("<enable xmlns='urn:xmpp:sm:3' resume='true'/>"), std::string::npos);
  // Not online until stream management is on: a stanza sent before
  // <enabled/> would not be counted (the libstrophe 0.12 bug).
  EXPECT_TRUE(h.online.empty());
  h.feed("<enabled xmlns='urn:xmpp:sm:3' id='sm-1' resume='true'/>");
  ASSERT_EQ(h.online.size(), 1u);
}

TEST(Session, LogsInOverStartTlsBindsAndEnablesStreamManagement) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  EXPECT_EQ(h.online[0].jid.str(), "alice@localhost/desk");
  EXPECT_FALSE(h.online[0].resumed);
  EXPECT_TRUE(h.session->online());
  EXPECT_TRUE(h.sm.resumable());
  EXPECT_FALSE(h.error);
}

TEST(Session, RefusesToLogInWithoutTls) {
  Harness h;
  h.make();
  h.feed(kHeader);
  h.feed(
      "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
      "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
  ASSERT_TRUE(h.error);
  EXPECT_EQ(h.error->code, Errc::tls);
  for (const auto& w : h.written) EXPECT_EQ(w.find("<auth"), std::string::npos);
}

TEST(Session, WrongPasswordIsAnAuthError) {
  Harness h;
  h.make();
  h.through_tls();
  h.feed(
      "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
      "<mechanism>PLAIN</mechanism></mechanisms></stream:features>");
  h.feed("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
  ASSERT_TRUE(h.error);
  EXPECT_EQ(h.error->code, Errc::auth);
  EXPECT_NE(h.error->message.find("wrong address or password"), std::string::npos);
}

TEST(Session, CountsAndAcknowledgesStanzas) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  h.session->send(chat("m1"), "m1");
  h.session->send(chat("m2"), "m2");
  EXPECT_EQ(h.sm.unacked(), 2u);
  h.feed("<a xmlns='urn:xmpp:sm:3' h='1'/>");
  ASSERT_EQ(h.acked.size(), 1u);
  EXPECT_EQ(h.acked[0].message_id, "m1");
  EXPECT_EQ(h.sm.unacked(), 1u);

  // Incoming stanzas are counted and the count reported on request.
  h.feed("<message from='bob@localhost/x' type='chat'><body>yo</body></message>");
  h.feed("<presence from='bob@localhost/x'/>");
  EXPECT_EQ(h.stanzas.size(), 2u);
  h.feed("<r xmlns='urn:xmpp:sm:3'/>");
  EXPECT_EQ(h.last(), "<a xmlns='urn:xmpp:sm:3' h='2'/>");

  // An ack for more than was sent is a protocol error.
  h.feed("<a xmlns='urn:xmpp:sm:3' h='9'/>");
  ASSERT_TRUE(h.error);
  EXPECT_EQ(h.error->code, Errc::protocol);
}

TEST(Session, ResumesAndResendsWhatTheServerDidNotGet) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  h.session->send(chat("m1"), "m1");
  h.session->send(chat("m2"), "m2");
  h.session->send(chat("m3"), "m3");
  h.feed("<message from='bob@localhost/x' type='chat'><body>yo</body></message>");

  // The connection drops; a new one resumes: the server got m1 only.
  h.make();
  h.login_until_bound_features(kFeaturesWithSm);
  EXPECT_NE(h.last().find("<resume xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>"),
            std::string::npos);
  std::size_t before = h.written.size();
  h.feed("<resumed xmlns='urn:xmpp:sm:3' h='1' previd='sm-1'/>");
  ASSERT_EQ(h.online.size(), 2u);
  EXPECT_TRUE(h.online[1].resumed);
  ASSERT_EQ(h.acked.size(), 1u);
  EXPECT_EQ(h.acked[0].message_id, "m1");
  std::string resent;
  for (std::size_t i = before; i < h.written.size(); ++i) resent += h.written[i];
  EXPECT_NE(resent.find("id='m2'"), std::string::npos);
  EXPECT_NE(resent.find("id='m3'"), std::string::npos);
  EXPECT_EQ(resent.find("id='m1'"), std::string::npos);
  EXPECT_EQ(h.sm.unacked(), 2u);
  h.feed("<a xmlns='urn:xmpp:sm:3' h='3'/>");
  EXPECT_EQ(h.acked.size(), 3u);
  EXPECT_EQ(h.sm.unacked(), 0u);
}

TEST(Session, FailedResumptionBindsAnewAndHandsBackUnackedMessages) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  h.session->send(chat("m1"), "m1");
  h.session->send(chat("m2"), "m2");

  h.make();  // the server restarted: it knows nothing of sm-1
  h.login_until_bound_features(kFeaturesWithSm);
  h.feed(
      "<failed xmlns='urn:xmpp:sm:3'><item-not-found "
      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
  ASSERT_NE(h.last().find("urn:ietf:params:xml:ns:xmpp-bind"), std::string::npos);
  h.feed("<iq type='result' id='" + h.bind_id() +
         "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/desk</jid></bind>"
         "</iq>");
  h.feed("<enabled xmlns='urn:xmpp:sm:3' id='sm-2' resume='true'/>");
  ASSERT_EQ(h.online.size(), 2u);
  EXPECT_FALSE(h.online[1].resumed);
  ASSERT_EQ(h.online[1].lost.size(), 2u);
  EXPECT_EQ(h.online[1].lost[0].message_id, "m1");
  EXPECT_EQ(h.online[1].lost[1].message_id, "m2");
  EXPECT_EQ(h.sm.resume_id(), "sm-2");
}

TEST(Session, UnackedMessagesSurviveASecondDropBeforeTheNextSessionIsUp) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  h.session->send(chat("m1"), "m1");

  h.make();  // the server restarted; resumption fails...
  h.login_until_bound_features(kFeaturesWithSm);
  h.feed("<failed xmlns='urn:xmpp:sm:3'/>");
  ASSERT_NE(h.last().find("urn:ietf:params:xml:ns:xmpp-bind"), std::string::npos);

  h.make();  // ...and the link drops again while binding.
  h.login_until_bound_features(kFeaturesWithSm);
  ASSERT_NE(h.last().find("urn:ietf:params:xml:ns:xmpp-bind"), std::string::npos);
  h.feed("<iq type='result' id='" + h.bind_id() +
         "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/desk</jid></bind>"
         "</iq>");
  h.feed("<enabled xmlns='urn:xmpp:sm:3' id='sm-3' resume='true'/>");
  ASSERT_EQ(h.online.size(), 2u);
  ASSERT_EQ(h.online[1].lost.size(), 1u);
  EXPECT_EQ(h.online[1].lost[0].message_id, "m1");
}

TEST(Session, AResumedSessionKeepsItsAddressAndDoesNotRepeatQuestions) {
  Harness h;
  h.make();
  go_online_with_sm(h);
  Element iq("iq", "jabber:client");
  iq.set_attr("type", "get");
  iq.set_attr("id", "q1");
  h.session->send(iq);
  h.session->send(chat("m1"), "m1");

  h.make();
  h.login_until_bound_features(kFeaturesWithSm);
  std::size_t before = h.written.size();
  h.feed("<resumed xmlns='urn:xmpp:sm:3' h='0' previd='sm-1'/>");
  ASSERT_EQ(h.online.size(), 2u);
  EXPECT_EQ(h.online[1].jid.str(), "alice@localhost/desk");
  std::string resent;
  for (std::size_t i = before; i < h.written.size(); ++i) resent += h.written[i];
  EXPECT_NE(resent.find("id='m1'"), std::string::npos);
  EXPECT_EQ(resent.find("id='q1'"), std::string::npos);
}

TEST(Session, RefusesABoundAddressOfAnotherAccount) {
  Harness h;
  h.make();
  h.login_until_bound_features(kFeaturesWithSm);
  h.feed("<iq type='result' id='" + h.bind_id() +
         "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>mallory@localhost/x</jid></bind>"
         "</iq>");
  ASSERT_TRUE(h.error);
  EXPECT_TRUE(h.online.empty());
}

TEST(Session, HostileInputFailsTheStreamWithoutCrashing) {
  Harness h;
  h.make();
  h.feed(kHeader);
  h.feed("<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>");
  ASSERT_TRUE(h.error);
  EXPECT_EQ(h.error->code, Errc::protocol);
}

TEST(Session, RegistrationReportsATakenName) {
  Harness h;
  h.make(SessionMode::register_account);
  h.through_tls();
  h.feed(
      "<stream:features><register xmlns='http://jabber.org/features/iq-register'/>"
      "</stream:features>");
  auto get = parse_element(h.last());
  ASSERT_TRUE(get);
  h.feed("<iq type='result' id='" + get->attr_or("id") +
         "'><query xmlns='jabber:iq:register'><username/><password/></query></iq>");
  auto set = parse_element(h.last());
  ASSERT_TRUE(set);
  EXPECT_EQ(set->attr_or("type"), "set");
  h.feed("<iq type='error' id='" + set->attr_or("id") +
         "'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
         "</iq>");
  ASSERT_TRUE(h.error);
  EXPECT_EQ(h.error->code, Errc::conflict);
  EXPECT_EQ(h.error->message, "could not create the account: the name is taken");
  EXPECT_FALSE(h.registered);
}

struct Traffic {
  Direction direction;
  std::string text;
};

std::string all_text(const std::vector<Traffic>& seen) {
  std::string out;
  for (const Traffic& t : seen) out += t.text + "\n";
  return out;
}

TEST(Session, TrafficObserverSeesTheStreamButNotTheLogin) {
  Harness h;
  std::vector<Traffic> seen;
  h.traffic = [&](Direction d, std::string_view text) { seen.push_back({d, std::string(text)}); };
  h.make();
  go_online_with_sm(h);
  h.session->send(chat("m1"), "m1");
  h.feed("<message from='bob@localhost/x' type='chat' id='b1'><body>yo</body></message>");

  // Every write is seen once, as written, except the SASL ones.
  std::vector<std::string> sent;
  std::size_t hidden_sent = 0;
  std::size_t hidden_received = 0;
  for (const Traffic& t : seen) {
    if (t.text == kAuthenticationNotLogged) {
      ++(t.direction == Direction::send ? hidden_sent : hidden_received);
    } else if (t.direction == Direction::send) {
      sent.push_back(t.text);
    }
  }
  EXPECT_EQ(hidden_sent, 1u) << "<auth/>";
  EXPECT_EQ(hidden_received, 1u) << "<success/>";
  std::vector<std::string> expected;
  for (const std::string& w : h.written) {
    if (w.find("<auth") == std::string::npos) expected.push_back(w);
  }
  EXPECT_EQ(sent, expected);
  const std::string text = all_text(seen);
  EXPECT_NE(text.find("<starttls"), std::string::npos);
  EXPECT_NE(text.find("<body>hi</body>"), std::string::npos);
  EXPECT_NE(text.find("<body>yo</body>"), std::string::npos);
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(text.find("AGFsaWNlAHNlY3JldA"), std::string::npos) << "base64 of PLAIN's response";
  EXPECT_EQ(text.find("mechanism='PLAIN'"), std::string::npos);
}

TEST(Session, TrafficObserverSeesRegistrationWithThePasswordRedacted) {
  Harness h;
  std::vector<Traffic> seen;
  h.traffic = [&](Direction d, std::string_view text) { seen.push_back({d, std::string(text)}); };
  h.make(SessionMode::register_account);
  h.through_tls();
  h.feed(
      "<stream:features><register xmlns='http://jabber.org/features/iq-register'/>"
      "</stream:features>");
  auto get = parse_element(h.last());
  ASSERT_TRUE(get);
  h.feed("<iq type='result' id='" + get->attr_or("id") +
         "'><query xmlns='jabber:iq:register'><username/><password/></query></iq>");
  ASSERT_NE(h.last().find("<password>secret</password>"), std::string::npos);
  const std::string text = all_text(seen);
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  EXPECT_NE(text.find("<username>alice</username><password>[redacted]</password>"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("<username/><password/>"), std::string::npos) << "the form, as it came";
}

TEST(Session, TrafficObserverCanBeTurnedOffAndOnMidStream) {
  Harness h;
  std::vector<Traffic> seen;
  h.make();
  go_online_with_sm(h);
  EXPECT_TRUE(seen.empty());
  h.session->set_traffic_observer([&](Direction d, std::string_view text) {
    seen.push_back({d, std::string(text)});
  });
  h.session->send(chat("m1"), "m1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].direction, Direction::send);
  EXPECT_EQ(seen[0].text, h.last());
  h.session->set_traffic_observer(nullptr);
  h.session->send(chat("m2"), "m2");
  h.feed("<a xmlns='urn:xmpp:sm:3' h='2'/>");
  EXPECT_EQ(seen.size(), 1u);
}

TEST(RedactPasswords, TakesOutThePasswordTextOnly) {
  EXPECT_EQ(redact_passwords("<iq><query><password>p&amp;w</password></query></iq>"),
            "<iq><query><password>[redacted]</password></query></iq>");
  EXPECT_EQ(redact_passwords("<a:password xmlns:a='jabber:iq:register'>pw</a:password>"),
            "<a:password xmlns:a='jabber:iq:register'>[redacted]</a:password>");
  EXPECT_EQ(redact_passwords("<password/><password></password><password x='1' />"),
            "<password/><password></password><password x='1' />");
  EXPECT_EQ(redact_passwords("<passwords>kept</passwords><body>password: kept</body>"),
            "<passwords>kept</passwords><body>password: kept</body>");
  EXPECT_EQ(redact_passwords("<p><password>one</password><password>two</password></p>"),
            "<p><password>[redacted]</password><password>[redacted]</password></p>");
}

TEST(RedactPasswords, FollowsAPasswordIntoTheNextPiece) {
  bool open = false;
  EXPECT_EQ(redact_passwords("<query><password>sec", open), "<query><password>[redacted]");
  EXPECT_TRUE(open);
  EXPECT_EQ(redact_passwords("ret", open), "[redacted]");
  EXPECT_TRUE(open);
  EXPECT_EQ(redact_passwords("!</password></query>", open), "[redacted]</password></query>");
  EXPECT_FALSE(open);
  EXPECT_EQ(redact_passwords("<body>ret</body>", open), "<body>ret</body>");
}

}  // namespace
}  // namespace sotto::xmpp
