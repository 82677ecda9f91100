#include "sotto/xmpp/xml.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace sotto::xmpp {
namespace {

constexpr std::string_view kHeader =
    "<?xml version='1.0'?>"
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "from='example.org' id='s1' version='1.0' xml:lang='en'>";

constexpr std::string_view kSession =
    "<stream:features>"
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features>"
    "\n \n"
    "<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='m1'>"
    "<body>Wherefore art thou &amp; &lt;where&gt;?</body>"
    "<request xmlns='urn:xmpp:receipts'/>"
    "</message>"
    " "
    "</stream:stream>";

// Records what the parser reports, as text that is easy to compare.
struct Recorder {
  std::vector<std::string> events;
  std::vector<Element> stanzas;

  StreamParser::Callbacks callbacks() {
    return {
        [this](const Element& header) {
          events.push_back("open " + header.attr_or("from") + " " + header.attr_or("id") + " " +
                           header.attr_or("version") + " " + header.attr_or("xml:lang"));
        },
        [this](Element stanza) {
          events.push_back(stanza.to_string(ns::client));
          stanzas.push_back(std::move(stanza));
        },
        [this] { events.push_back("close"); },
    };
  }
};

const std::vector<std::string> kExpectedEvents = {
    "open example.org s1 1.0 en",
    "<features xmlns='http://etherx.jabber.org/streams'>"
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></features>",
    "<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='m1'>"
    "<body>Wherefore art thou &amp; &lt;where&gt;?</body>"
    "<request xmlns='urn:xmpp:receipts'/></message>",
    "close",
};

std::string session_text() { return std::string(kHeader) + std::string(kSession); }

TEST(XmlStream, ParsesASessionInOneChunk) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(session_text()));
  EXPECT_EQ(recorder.events, kExpectedEvents);

  ASSERT_EQ(recorder.stanzas.size(), 2u);
  const Element& message = recorder.stanzas[1];
  EXPECT_TRUE(message.is("message", ns::client));
  EXPECT_EQ(message.child_text("body", ns::client), "Wherefore art thou & <where>?");
  EXPECT_NE(message.child("request", ns::receipts), nullptr);
  EXPECT_TRUE(recorder.stanzas[0].is("features", ns::stream));
}

TEST(XmlStream, ParsesASessionByteByByte) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  const std::string text = session_text();
  for (char c : text) ASSERT_TRUE(parser.feed(std::string_view(&c, 1)));
  EXPECT_EQ(recorder.events, kExpectedEvents);
}

TEST(XmlStream, DeliversAStanzaAsSoonAsItsEndTagArrives) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(kHeader));
  // A long start tag arriving in small pieces: the stanza must not be held
  // back waiting for more input once it is complete.
  const std::string stanza = "<iq id='" + std::string(20000, 'x') + "' type='result'/>";
  for (std::size_t i = 0; i < stanza.size(); i += 100) {
    ASSERT_TRUE(parser.feed(std::string_view(stanza).substr(i, 100)));
  }
  ASSERT_EQ(recorder.stanzas.size(), 1u);
  EXPECT_EQ(recorder.stanzas[0].attr_or("type"), "result");
}

TEST(XmlStream, StreamHeaderWithoutDefaultNamespaceGivesEmptyNamespace) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(
      parser.feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
                  "<presence/>"));
  ASSERT_EQ(recorder.stanzas.size(), 1u);
  EXPECT_TRUE(recorder.stanzas[0].is("presence", ""));
  EXPECT_EQ(recorder.stanzas[0].to_string(ns::client), "<presence xmlns=''/>");
}

TEST(XmlStream, RefusesARootOtherThanStreamStream) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  auto fed = parser.feed("<stream xmlns='jabber:client'>");
  ASSERT_FALSE(fed);
  EXPECT_EQ(fed.error().code, Errc::protocol);
  EXPECT_NE(fed.error().message.find("stream:stream"), std::string::npos);
  EXPECT_TRUE(recorder.events.empty());
}

TEST(XmlStream, ResetFromInsideACallbackStartsAFreshStream) {
  StreamParser* self = nullptr;
  std::vector<std::string> events;
  StreamParser parser(StreamParser::Callbacks{
      [&](const Element& header) { events.push_back("open " + header.attr_or("id")); },
      [&](Element stanza) {
        events.push_back(stanza.name());
        if (stanza.name() == "proceed") self->reset();  // STARTTLS: restart the stream
      },
      [&] { events.push_back("close"); },
  });
  self = &parser;

  // Whatever follows <proceed/> in the same buffer is dropped, even garbage.
  ASSERT_TRUE(parser.feed(std::string(kHeader) +
                          "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message>&bogus;<"));
  EXPECT_EQ(events, (std::vector<std::string>{"open s1", "proceed"}));

  const std::string second =
      "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      "xmlns:stream='http://etherx.jabber.org/streams' id='s2' version='1.0'>"
      "<stream:features/>";
  ASSERT_TRUE(parser.feed(second));
  EXPECT_EQ(events, (std::vector<std::string>{"open s1", "proceed", "open s2", "features"}));
}

TEST(XmlStream, ResetOutsideACallbackStartsAFreshStream) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(std::string(kHeader) + "<message><bo"));
  parser.reset();
  ASSERT_TRUE(parser.feed(std::string(kHeader) + "<presence/>"));
  ASSERT_EQ(recorder.stanzas.size(), 1u);
  EXPECT_EQ(recorder.stanzas[0].name(), "presence");
}

TEST(XmlStream, ErrorIsStickyUntilReset) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(kHeader));
  auto first = parser.feed("<message></presence>");
  ASSERT_FALSE(first);
  EXPECT_EQ(first.error().code, Errc::protocol);
  EXPECT_NE(first.error().message.find("not well-formed (line 1"), std::string::npos)
      << first.error().message;

  auto again = parser.feed("<presence/>");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, first.error().message);
  EXPECT_TRUE(recorder.stanzas.empty());

  parser.reset();
  ASSERT_TRUE(parser.feed(std::string(kHeader) + "<presence/>"));
  EXPECT_EQ(recorder.stanzas.size(), 1u);
}

TEST(XmlStream, CallbackExceptionPropagatesAndBreaksTheStream) {
  StreamParser parser(StreamParser::Callbacks{
      nullptr,
      [](Element) { throw std::runtime_error("boom"); },
      nullptr,
  });
  EXPECT_THROW((void)parser.feed(std::string(kHeader) + "<presence/>"), std::runtime_error);
  EXPECT_FALSE(parser.feed("<presence/>"));
  parser.reset();
  EXPECT_TRUE(parser.feed(kHeader));
}

TEST(XmlStream, FeedingFromACallbackIsRefused) {
  StreamParser* self = nullptr;
  bool refused = false;
  StreamParser parser(StreamParser::Callbacks{
      nullptr,
      [&](Element) { refused = !self->feed("<presence/>"); },
      nullptr,
  });
  self = &parser;
  ASSERT_TRUE(parser.feed(std::string(kHeader) + "<presence/>"));
  EXPECT_TRUE(refused);
}

TEST(XmlStream, WhitespaceKeepalivesAreIgnoredAndNotCounted) {
  Recorder recorder;
  ParserLimits limits;
  limits.max_stanza_bytes = 1000;
  StreamParser parser(recorder.callbacks(), limits);
  ASSERT_TRUE(parser.feed(kHeader));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(parser.feed(std::string(500, ' ')));
  ASSERT_TRUE(parser.feed("<presence/>"));
  EXPECT_EQ(recorder.stanzas.size(), 1u);
}

TEST(XmlStream, ManySmallStanzasInOneBufferAreWithinTheLimit) {
  Recorder recorder;
  ParserLimits limits;
  limits.max_stanza_bytes = 200;
  StreamParser parser(recorder.callbacks(), limits);
  std::string buffer(kHeader);
  for (int i = 0; i < 1000; ++i)
    buffer += "<message id='" + std::to_string(i) + "'><body>hi</body></message>";
  ASSERT_TRUE(parser.feed(buffer));
  EXPECT_EQ(recorder.stanzas.size(), 1000u);
}

// Feeds a stanza that never ends in 64 KiB chunks and returns how many bytes
// were accepted before the parser refused it.
std::size_t bytes_until_refused(StreamParser& parser, std::string_view start, char filler) {
  std::size_t accepted = 0;
  if (!parser.feed(start)) return accepted;
  accepted += start.size();
  const std::string chunk(64 * 1024, filler);
  for (int i = 0; i < 160; ++i) {  // 10 MiB
    if (!parser.feed(chunk)) return accepted;
    accepted += chunk.size();
  }
  return accepted;
}

TEST(XmlStream, RefusesAHugeStanzaBeforeBufferingIt) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());  // default limit: 512 KiB
  ASSERT_TRUE(parser.feed(kHeader));
  const std::size_t accepted = bytes_until_refused(parser, "<message><body>", 'a');
  EXPECT_LE(accepted, 512u * 1024u);
  EXPECT_GT(accepted, 400u * 1024u);
  auto fed = parser.feed("</body></message>");
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("stanza too large"), std::string::npos) << fed.error().message;
  EXPECT_TRUE(recorder.stanzas.empty());
}

TEST(XmlStream, RefusesAHugeStartTag) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(kHeader));
  // One token that expat would have to buffer whole before any callback.
  const std::size_t accepted = bytes_until_refused(parser, "<message id='", 'a');
  EXPECT_LE(accepted, 512u * 1024u);
  auto fed = parser.feed("'/>");
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("stanza too large"), std::string::npos);
}

TEST(XmlStream, RefusesAHugeStreamHeader) {
  Recorder recorder;
  ParserLimits limits;
  limits.max_stanza_bytes = 4096;
  StreamParser parser(recorder.callbacks(), limits);
  auto fed = parser.feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' from='" +
                         std::string(8192, 'a') + "'>");
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("stream header too large"), std::string::npos);
  EXPECT_TRUE(recorder.events.empty());
}

TEST(XmlStream, StanzaExactlyAtTheLimitIsAccepted) {
  const std::string stanza = "<message><body>" + std::string(1000, 'a') + "</body></message>";
  for (std::size_t limit : {stanza.size(), stanza.size() - 1}) {
    Recorder recorder;
    ParserLimits limits;
    limits.max_stanza_bytes = limit;
    StreamParser parser(recorder.callbacks(), limits);
    ASSERT_TRUE(parser.feed(kHeader));
    const bool fits = limit >= stanza.size();
    EXPECT_EQ(static_cast<bool>(parser.feed(stanza)), fits) << limit;
    EXPECT_EQ(recorder.stanzas.size(), fits ? 1u : 0u);
  }
}

TEST(XmlStream, RefusesDeepNesting) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(kHeader));
  std::string deep;
  for (int i = 0; i < 32; ++i) deep += "<a>";
  for (int i = 0; i < 32; ++i) deep += "</a>";
  ASSERT_TRUE(parser.feed(deep));  // exactly at the limit
  EXPECT_EQ(recorder.stanzas.size(), 1u);

  std::string deeper;
  for (int i = 0; i < 100000; ++i) deeper += "<a>";
  auto fed = parser.feed(deeper);
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("nested too deeply"), std::string::npos);
}

TEST(XmlStream, RefusesTooManyAttributes) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  ASSERT_TRUE(parser.feed(kHeader));
  std::string stanza = "<message";
  for (int i = 0; i < 65; ++i) stanza += " a" + std::to_string(i) + "='x'";
  stanza += "/>";
  auto fed = parser.feed(stanza);
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("too many attributes on <message>"), std::string::npos);
}

TEST(XmlStream, RefusesTooManyNodes) {
  Recorder recorder;
  ParserLimits limits;
  limits.max_children = 100;
  StreamParser parser(recorder.callbacks(), limits);
  ASSERT_TRUE(parser.feed(kHeader));
  std::string stanza = "<message>";
  for (int i = 0; i < 60; ++i) stanza += "<b/>text";
  stanza += "</message>";
  auto fed = parser.feed(stanza);
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().message.find("too many nodes"), std::string::npos);
}

// Each of these must be refused with a protocol error and deliver nothing
// after the header.
struct Refused {
  const char* what;
  std::string stream;
};

TEST(XmlStream, RefusesForbiddenXml) {
  const std::string header(kHeader);
  const std::vector<Refused> cases = {
      {"doctype", "<?xml version='1.0'?><!DOCTYPE stream><stream:stream/>"},
      {"entity declaration",
       "<!DOCTYPE s [<!ENTITY x 'y'>]><stream:stream "
       "xmlns:stream='http://etherx.jabber.org/streams'>&x;"},
      {"billion laughs",
       "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
       "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
       "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
       "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
       "<message><body>&lol3;</body></message>"},
      {"external entity",
       "<!DOCTYPE s [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><stream:stream "
       "xmlns:stream='http://etherx.jabber.org/streams'>&x;"},
      {"comment", header + "<!-- hello --><presence/>"},
      {"comment inside a stanza", header + "<message><!-- hello --></message>"},
      {"processing instruction", header + "<?php echo 1; ?><presence/>"},
      {"undefined entity", header + "<message><body>&nbsp;</body></message>"},
      {"NUL byte", header + std::string("<message><body>a\0b</body></message>", 35)},
      {"invalid UTF-8", header + "<message><body>\xC3\x28</body></message>"},
      {"overlong UTF-8", header + "<message><body>\xC0\xAF</body></message>"},
      {"UTF-8 surrogate", header + "<message><body>\xED\xA0\x80</body></message>"},
      {"control character reference", header + "<message><body>&#1;</body></message>"},
      {"unbound prefix", header + "<foo:message/>"},
      {"xml namespace element", header + "<xml:message/>"},
      {"text after close", header + "</stream:stream>junk"},
  };
  for (const auto& c : cases) {
    Recorder recorder;
    StreamParser parser(recorder.callbacks());
    auto fed = parser.feed(c.stream);
    ASSERT_FALSE(fed) << c.what;
    EXPECT_EQ(fed.error().code, Errc::protocol) << c.what;
    EXPECT_FALSE(fed.error().message.empty()) << c.what;
    EXPECT_TRUE(recorder.stanzas.empty()) << c.what;
  }
}

TEST(XmlStream, EncodingDeclarationCannotSwitchAwayFromUtf8) {
  Recorder recorder;
  StreamParser parser(recorder.callbacks());
  // \xE9 is 'é' in Latin-1 but not valid UTF-8: refused despite the declaration.
  auto fed = parser.feed(
      "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream "
      "xmlns:stream='http://etherx.jabber.org/streams'><message>\xE9</message>");
  EXPECT_FALSE(fed);
}

// ---------------------------------------------------------------------------
// Element and parse_element

TEST(XmlElement, ParsesWithTheDefaultNamespace) {
  auto parsed = parse_element(
      "<message xmlns:r='urn:xmpp:receipts' to='a@b' xml:lang='fr'>"
      "<body>salut</body><r:received id='m1'/>"
      "<x xmlns='jabber:x:data' type='form'><field var='a'/></x>"
      "<plain xmlns=''><inner/></plain>"
      "</message>");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const Element& message = *parsed;
  EXPECT_TRUE(message.is("message", ns::client));
  EXPECT_EQ(message.attr("to"), "a@b");
  EXPECT_EQ(message.attr("xml:lang"), "fr");
  EXPECT_EQ(message.attrs().size(), 2u);  // xmlns declarations are not attributes
  EXPECT_EQ(message.child_text("body", ns::client), "salut");
  ASSERT_NE(message.child("received", ns::receipts), nullptr);
  EXPECT_EQ(message.child("received")->attr_or("id"), "m1");
  const Element* form = message.child("x", ns::data_forms);
  ASSERT_NE(form, nullptr);
  EXPECT_NE(form->child("field", ns::data_forms), nullptr);
  const Element* plain = message.child("plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->xmlns(), "");
  EXPECT_EQ(plain->child("inner")->xmlns(), "");

  EXPECT_EQ(message.to_string(ns::client),
            "<message to='a@b' xml:lang='fr'><body>salut</body>"
            "<received xmlns='urn:xmpp:receipts' id='m1'/>"
            "<x xmlns='jabber:x:data' type='form'><field var='a'/></x>"
            "<plain xmlns=''><inner/></plain></message>");
  // Written into a stream with another default namespace, the root says its own.
  EXPECT_EQ(message.child("body")->to_string(), "<body xmlns='jabber:client'>salut</body>");
}

TEST(XmlElement, ParseElementOtherDefaultNamespace) {
  auto parsed = parse_element("<query><item jid='a@b'/></query>", ns::roster);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->is("query", ns::roster));
  EXPECT_TRUE(parsed->first_child()->is("item", ns::roster));
}

TEST(XmlElement, NamespacedAttributesAreKeptByLocalName) {
  auto parsed = parse_element("<a xmlns:p='urn:p' p:x='1' y='2' p:y='3'/>");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->attr_or("x"), "1");
  EXPECT_EQ(parsed->attr_or("y"), "2");  // the unprefixed one wins
  EXPECT_EQ(parsed->attrs().size(), 2u);
}

TEST(XmlElement, ParseElementErrors) {
  for (std::string_view bad : {"", "   ", "<a>", "<a></b>", "<a/><b/>", "text", "<a>&foo;</a>",
                               "<!-- c --><a/>", "<!DOCTYPE a><a/>", "<a b='1' b='2'/>"}) {
    auto parsed = parse_element(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, Errc::protocol) << bad;
  }
  ParserLimits limits;
  limits.max_stanza_bytes = 10;
  EXPECT_FALSE(parse_element("<message>too long</message>", ns::client, limits));
  EXPECT_TRUE(parse_element("<?xml version='1.0'?>\n<a/>\n"));
}

TEST(XmlElement, EscapingRoundTrips) {
  Element message("message", std::string(ns::client));
  const std::string attr_value = "a&b<c>d\"e'f\tg\nh\ri  j";
  const std::string text = "x & y < z > w \"q\" 'r' ]]> line\nbreak\r\ncrlf\ttab";
  message.set_attr("id", attr_value);
  message.add_child("body", std::string(ns::client)).add_text(text);
  const std::string xml = message.to_string(ns::client);
  EXPECT_EQ(xml,
            "<message id='a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i  j'>"
            "<body>x &amp; y &lt; z &gt; w \"q\" 'r' ]]&gt; line\nbreak&#13;\ncrlf\ttab</body>"
            "</message>");
  auto parsed = parse_element(xml);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->attr_or("id"), attr_value);
  EXPECT_EQ(parsed->child_text("body"), text);
  EXPECT_EQ(parsed->to_string(ns::client), xml);
}

TEST(XmlElement, UnicodeSurvivesAndInvalidBytesAreReplaced) {
  Element body("body", std::string(ns::client));
  body.add_text("h\xC3\xA9llo \xF0\x9F\x98\x80 \x01\x1B bad:\xFF\xC3 end");
  const std::string xml = body.to_string(ns::client);
  EXPECT_EQ(xml,
            "<body>h\xC3\xA9llo \xF0\x9F\x98\x80 \xEF\xBF\xBD\xEF\xBF\xBD bad:\xEF\xBF\xBD"
            "\xEF\xBF\xBD end</body>");
  EXPECT_TRUE(parse_element(xml));
}

TEST(XmlElement, XmlEscape) {
  EXPECT_EQ(xml_escape("plain"), "plain");
  EXPECT_EQ(xml_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;");
}

TEST(XmlElement, Helpers) {
  Element iq("iq", std::string(ns::client));
  iq.set_attr("type", "get").set_attr("id", "1");
  iq.set_attr("type", "set");  // replaces
  EXPECT_EQ(iq.attrs().size(), 2u);
  EXPECT_EQ(iq.attr("type"), "set");
  EXPECT_EQ(iq.attr("missing"), std::nullopt);
  EXPECT_EQ(iq.attr_or("missing", "fallback"), "fallback");
  EXPECT_EQ(iq.first_child(), nullptr);

  Element& query = iq.add_child("query", std::string(ns::roster));
  query.add_child("item", std::string(ns::roster)).set_attr("jid", "a@b");
  query.add_child("item", std::string(ns::roster)).set_attr("jid", "c@d");
  query.add_child("other", "urn:other");
  iq.add_text("one").add_text("two");
  ASSERT_EQ(iq.nodes().size(), 2u);  // adjacent text merges
  EXPECT_EQ(iq.text(), "onetwo");

  EXPECT_EQ(iq.child("query"), iq.child("query", ns::roster));
  EXPECT_EQ(iq.child("query", ns::client), nullptr);
  EXPECT_EQ(iq.first_child(), iq.child("query"));
  const Element* const_query = iq.child("query");
  EXPECT_EQ(const_query->children("item").size(), 2u);
  EXPECT_EQ(const_query->children().size(), 3u);
  EXPECT_EQ(const_query->children({}, "urn:other").size(), 1u);
  EXPECT_EQ(const_query->children("item")[1]->attr_or("jid"), "c@d");
  EXPECT_EQ(iq.child_text("missing"), "");

  iq.child("query")->set_attr("ver", "7");
  EXPECT_EQ(iq.to_string(ns::client),
            "<iq type='set' id='1'><query xmlns='jabber:iq:roster' ver='7'>"
            "<item jid='a@b'/><item jid='c@d'/><other xmlns='urn:other'/></query>onetwo</iq>");
  EXPECT_EQ(Element("x", "").to_string(), "<x/>");
  EXPECT_EQ(Element("x", "").to_string("jabber:client"), "<x xmlns=''/>");
}

}  // namespace
}  // namespace sotto::xmpp
