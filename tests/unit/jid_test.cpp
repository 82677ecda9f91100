#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sotto/base/base.h"

namespace sotto {
namespace {

Jid parse_ok(std::string_view text) {
  auto jid = Jid::parse(text);
  EXPECT_TRUE(jid.has_value()) << text << ": " << (jid ? "" : jid.error().message);
  return jid.value_or(Jid());
}

std::string parse_error(std::string_view text) {
  auto jid = Jid::parse(text);
  EXPECT_FALSE(jid.has_value()) << text << " parsed as " << (jid ? jid->str() : "");
  if (jid) return {};
  EXPECT_EQ(jid.error().code, Errc::invalid_argument);
  return jid.error().message;
}

TEST(Jid, ParsesTheThreeParts) {
  Jid jid = parse_ok("juliet@example.com/balcony");
  EXPECT_EQ(jid.local(), "juliet");
  EXPECT_EQ(jid.domain(), "example.com");
  EXPECT_EQ(jid.resource(), "balcony");
  EXPECT_FALSE(jid.is_bare());
  EXPECT_FALSE(jid.empty());
  EXPECT_EQ(jid.str(), "juliet@example.com/balcony");
  EXPECT_EQ(jid.bare_str(), "juliet@example.com");
}

TEST(Jid, LocalAndResourceAreOptional) {
  Jid server = parse_ok("example.com");
  EXPECT_EQ(server.local(), "");
  EXPECT_EQ(server.domain(), "example.com");
  EXPECT_TRUE(server.is_bare());
  EXPECT_EQ(server.str(), "example.com");

  Jid with_resource = parse_ok("example.com/admin");
  EXPECT_EQ(with_resource.local(), "");
  EXPECT_EQ(with_resource.resource(), "admin");
  EXPECT_EQ(with_resource.str(), "example.com/admin");
  EXPECT_EQ(with_resource.bare_str(), "example.com");
}

TEST(Jid, ResourceKeepsSlashesAtSignsSpacesAndCase) {
  Jid jid = parse_ok("juliet@example.com/Balcony/Upper @ Night");
  EXPECT_EQ(jid.local(), "juliet");
  EXPECT_EQ(jid.domain(), "example.com");
  EXPECT_EQ(jid.resource(), "Balcony/Upper @ Night");

  // An '@' after the first '/' belongs to the resource, not the local part.
  Jid server = parse_ok("example.com/juliet@example.net");
  EXPECT_EQ(server.local(), "");
  EXPECT_EQ(server.domain(), "example.com");
  EXPECT_EQ(server.resource(), "juliet@example.net");
}

TEST(Jid, FoldsAsciiCaseOfLocalAndDomain) {
  Jid jid = parse_ok("Juliet@Example.COM/Balcony");
  EXPECT_EQ(jid.local(), "juliet");
  EXPECT_EQ(jid.domain(), "example.com");
  EXPECT_EQ(jid.resource(), "Balcony");
  EXPECT_EQ(jid, parse_ok("juliet@example.com/Balcony"));
  EXPECT_NE(jid, parse_ok("juliet@example.com/balcony"));
}

TEST(Jid, StripsOneTrailingDotFromTheDomain) {
  EXPECT_EQ(parse_ok("juliet@example.com.").domain(), "example.com");
  EXPECT_EQ(parse_ok("example.com./r").str(), "example.com/r");
  parse_error("juliet@example.com..");
  parse_error(".");
}

TEST(Jid, AcceptsIpLiterals) {
  EXPECT_EQ(parse_ok("juliet@127.0.0.1").domain(), "127.0.0.1");
  EXPECT_EQ(parse_ok("juliet@[::1]/r").domain(), "[::1]");
  EXPECT_EQ(parse_ok("[2001:DB8::1]").domain(), "[2001:db8::1]");
  parse_error("juliet@[::1");
  parse_error("juliet@[not-an-address]");
  parse_error("juliet@[]");
}

TEST(Jid, PassesNonAsciiThrough) {
  Jid jid = parse_ok("Ĵuliet@bücher.example/Balkon ☂");
  EXPECT_EQ(jid.local(), "Ĵuliet");  // no Unicode case folding without PRECIS tables
  EXPECT_EQ(jid.domain(), "bücher.example");
  EXPECT_EQ(jid.resource(), "Balkon ☂");
}

TEST(Jid, RejectsEmptyParts) {
  EXPECT_EQ(parse_error(""), "the address is empty");
  EXPECT_EQ(parse_error("@example.com"),
            "\"@example.com\" is not a valid address: the part before @ is empty");
  EXPECT_EQ(parse_error("juliet@"),
            "\"juliet@\" is not a valid address: the server name is missing");
  EXPECT_EQ(parse_error("juliet@example.com/"),
            "\"juliet@example.com/\" is not a valid address: the part after / is empty");
  parse_error("/balcony");
  parse_error("juliet@/balcony");
}

TEST(Jid, RejectsForbiddenCharactersInTheLocalPart) {
  for (std::string_view bad : {"ju\"liet", "ju&liet", "ju'liet", "ju:liet", "ju<liet", "ju>liet",
                               "ju liet", "ju@liet", "ju\tliet", "ju\x7fliet"}) {
    std::string address = std::string(bad) + "@example.com";
    EXPECT_FALSE(Jid::parse(address)) << address;
  }
  EXPECT_EQ(parse_error("ju liet@example.com"),
            "\"ju liet@example.com\" is not a valid address: the part before @ cannot contain "
            "spaces");
  EXPECT_EQ(parse_error("ju:liet@example.com"),
            "\"ju:liet@example.com\" is not a valid address: the part before @ cannot contain ':'");
  parse_error("ju\xC2\xA0liet@example.com");  // U+00A0 no-break space
  parse_error("ju\xC2\x85liet@example.com");  // U+0085, a C1 control
}

TEST(Jid, RejectsMalformedDomains) {
  for (std::string_view bad : {"juliet@exa mple.com", "juliet@example_com", "juliet@example..com",
                               "juliet@.example.com", "juliet@-example.com", "juliet@example-.com",
                               "juliet@exa:mple.com", "juliet@a@b", "juliet@exa\nmple.com"}) {
    EXPECT_FALSE(Jid::parse(bad)) << bad;
  }
}

TEST(Jid, RejectsControlCharactersInTheResource) {
  parse_error(std::string_view("juliet@example.com/bal\0cony", 27));
  EXPECT_EQ(parse_error("juliet@example.com/bal\ncony"),
            "\"juliet@example.com/bal?cony\" is not a valid address: the part after / contains a "
            "control character");
}

TEST(Jid, RejectsInvalidUtf8) {
  for (std::string_view bad :
       {"jul\xFFiet@example.com", "juliet@ex\xC3", "juliet@example.com/\xC0\xAF",
        "juliet@example.com/\xED\xA0\x80", "\xF4\x90\x80\x80@example.com"}) {
    auto jid = Jid::parse(bad);
    ASSERT_FALSE(jid);
    EXPECT_NE(jid.error().message.find("not valid UTF-8"), std::string::npos);
  }
}

TEST(Jid, LimitsEachPartTo1023Bytes) {
  const std::string part(1023, 'a');
  Jid longest = parse_ok(part + "@" + part.substr(0, 1019) + ".com/" + part);
  EXPECT_EQ(longest.local().size(), 1023u);
  EXPECT_EQ(longest.domain().size(), 1023u);
  EXPECT_EQ(longest.resource().size(), 1023u);

  EXPECT_NE(parse_error(part + "a@example.com").find("longer than 1023 bytes"), std::string::npos);
  parse_error("juliet@" + part + "a");
  parse_error("juliet@example.com/" + part + "a");
}

TEST(Jid, ErrorMessagesShortenHugeInput) {
  const std::string message = parse_error(std::string(5000, 'x') + " @example.com");
  EXPECT_LT(message.size(), 200u);
}

TEST(Jid, BareAndWithResource) {
  Jid full = parse_ok("juliet@example.com/balcony");
  EXPECT_EQ(full.bare(), parse_ok("juliet@example.com"));
  EXPECT_TRUE(full.bare().is_bare());
  EXPECT_EQ(full.bare().with_resource("garden"), parse_ok("juliet@example.com/garden"));
  EXPECT_EQ(full.with_resource("").str(), "juliet@example.com");
}

TEST(Jid, DefaultIsEmpty) {
  Jid jid;
  EXPECT_TRUE(jid.empty());
  EXPECT_EQ(jid.str(), "");
}

TEST(Jid, OrdersForUseInSets) {
  std::set<Jid> set{parse_ok("b@example.com"), parse_ok("a@example.com"),
                    parse_ok("A@example.com")};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace sotto
