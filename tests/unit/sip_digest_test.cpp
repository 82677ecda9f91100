// sotto::sip::digest against the RFCs' worked examples and hand-computed SIP
// cases (expected values computed independently with Python's hashlib).
#include "sotto/sip/digest.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace sotto::sip::digest {
namespace {

// The value of `name` in an Authorization header we produced.
std::string param(std::string_view header, std::string_view name) {
  const std::string quoted_key = std::string(name) + "=\"";
  const std::size_t at = header.find(quoted_key);
  if (at != std::string_view::npos) {
    const std::size_t start = at + quoted_key.size();
    return std::string(header.substr(start, header.find('"', start) - start));
  }
  const std::string key = std::string(name) + "=";
  const std::size_t plain = header.find(key);
  if (plain == std::string_view::npos) return "<absent>";
  const std::size_t start = plain + key.size();
  const std::size_t end = header.find(',', start);
  return std::string(header.substr(start, end == std::string_view::npos ? end : end - start));
}

TEST(SipDigest, Rfc2617Example) {
  // RFC 2617 §3.5.
  auto challenge = parse_challenge(
      "Digest\r\n realm=\"testrealm@host.com\",\r\n qop=\"auth,auth-int\",\r\n"
      " nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
      " opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
      false);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_EQ(challenge->realm, "testrealm@host.com");
  EXPECT_TRUE(challenge->qop_offered);
  EXPECT_TRUE(challenge->qop_auth);
  EXPECT_EQ(challenge->algorithm, Algorithm::md5);
  const std::string header = authorization(
      *challenge, Answer{"Mufasa", "Circle Of Life", "GET", "/dir/index.html", 1, "0a4f113b"});
  EXPECT_EQ(param(header, "response"), "6629fae49393a05397450978507c4ef1") << header;
  EXPECT_EQ(param(header, "nc"), "00000001");
  EXPECT_EQ(param(header, "qop"), "auth");
  EXPECT_EQ(param(header, "cnonce"), "0a4f113b");
  EXPECT_EQ(param(header, "opaque"), "5ccc069c403ebaf9f0171e9517f40e41");
  EXPECT_EQ(param(header, "username"), "Mufasa");
  EXPECT_EQ(param(header, "uri"), "/dir/index.html");
  EXPECT_TRUE(header.starts_with("Digest ")) << header;
  EXPECT_EQ(header.find("Circle"), std::string::npos);
}

TEST(SipDigest, Rfc7616Sha256Example) {
  // RFC 7616 §3.9.1: one response with two challenges, SHA-256 and MD5.
  const std::string common =
      "realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
  auto sha = parse_challenge("Digest " + common + ", algorithm=SHA-256", false);
  auto md5 = parse_challenge("Digest " + common + ", algorithm=MD5", false);
  ASSERT_TRUE(sha) << sha.error().message;
  ASSERT_TRUE(md5) << md5.error().message;
  auto chosen = choose({*md5, *sha});
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->algorithm, Algorithm::sha256);

  const Answer answer{"Mufasa", "Circle of Life",
                      "GET",    "/dir/index.html",
                      1,        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"};
  const std::string sha_header = authorization(*chosen, answer);
  EXPECT_EQ(param(sha_header, "response"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
      << sha_header;
  EXPECT_EQ(param(sha_header, "algorithm"), "SHA-256");
  EXPECT_EQ(param(authorization(*md5, answer), "response"), "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(SipDigest, SipRegisterHandComputed) {
  // A Kamailio-style challenge to REGISTER.
  auto challenge = parse_challenge(
      "Digest realm=\"127.0.0.1\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5", false);
  ASSERT_TRUE(challenge) << challenge.error().message;
  Answer answer{"alice", "s3cret", "REGISTER", "sip:127.0.0.1", 1, "c0ffee"};
  const std::string header = authorization(*challenge, answer);
  EXPECT_EQ(header,
            "Digest username=\"alice\", realm=\"127.0.0.1\", nonce=\"abc123\", "
            "uri=\"sip:127.0.0.1\", response=\"7b6896468e8a1b58cfc5d70a1e223684\", "
            "algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc=00000001");
}

TEST(SipDigest, WithoutQopRfc2069Style) {
  auto challenge = parse_challenge("Digest realm=\"127.0.0.1\",nonce=abc123", true);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_TRUE(challenge->proxy);
  EXPECT_FALSE(challenge->qop_offered);
  const std::string header =
      authorization(*challenge, Answer{"alice", "s3cret", "REGISTER", "sip:127.0.0.1", 1, {}});
  EXPECT_EQ(param(header, "response"), "4c3647b45f295c4ef749b2b46bb8e511") << header;
  EXPECT_EQ(param(header, "qop"), "<absent>");
  EXPECT_EQ(param(header, "cnonce"), "<absent>");
}

TEST(SipDigest, SessVariants) {
  auto sha = parse_challenge(
      "Digest realm=\"127.0.0.1\", nonce=\"abc123\", qop=auth, algorithm=sha-256-SESS", false);
  ASSERT_TRUE(sha) << sha.error().message;
  EXPECT_EQ(sha->algorithm, Algorithm::sha256_sess);
  Answer answer{"alice", "s3cret", "INVITE", "sip:bob@127.0.0.1", 10, "c0ffee"};
  const std::string header = authorization(*sha, answer);
  EXPECT_EQ(param(header, "response"),
            "d222180f8124eef81856bf7b64742ea6e3c4c2e2c18cf99f79a505761f69c5b8")
      << header;
  EXPECT_EQ(param(header, "nc"), "0000000a");
  EXPECT_EQ(param(header, "algorithm"), "SHA-256-sess");

  auto md5 = parse_challenge(
      "Digest realm=\"127.0.0.1\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5-sess", false);
  ASSERT_TRUE(md5);
  answer.nc = 2;
  EXPECT_EQ(param(authorization(*md5, answer), "response"), "cac29e21fec1092aa5317bc5b7429af2");
}

TEST(SipDigest, CnonceIsGeneratedWhenNotGiven) {
  auto challenge = parse_challenge("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"", false);
  ASSERT_TRUE(challenge);
  const Answer answer{"u", "p", "REGISTER", "sip:r", 1, {}};
  const std::string a = authorization(*challenge, answer);
  const std::string b = authorization(*challenge, answer);
  EXPECT_GE(param(a, "cnonce").size(), 16u);
  EXPECT_NE(param(a, "cnonce"), param(b, "cnonce"));
}

TEST(SipDigest, QuotesAreEscaped) {
  auto challenge = parse_challenge(R"(Digest realm="a\"b", nonce="n\\x")", false);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_EQ(challenge->realm, "a\"b");
  EXPECT_EQ(challenge->nonce, "n\\x");
  const std::string header =
      authorization(*challenge, Answer{"we\"ird", "p", "REGISTER", "sip:r", 1, {}});
  EXPECT_NE(header.find(R"(username="we\"ird")"), std::string::npos) << header;
  EXPECT_NE(header.find(R"(realm="a\"b")"), std::string::npos) << header;
}

TEST(SipDigest, ChallengeErrors) {
  struct Case {
    std::string_view value;
    Errc code;
  };
  for (const Case& c : {
           Case{"Basic realm=\"x\"", Errc::not_supported},
           Case{"Digest realm=\"x\", nonce=\"y\", algorithm=SHA-512-256", Errc::not_supported},
           Case{"Digest realm=\"x\", nonce=\"y\", qop=\"auth-int\"", Errc::not_supported},
           Case{"Digest nonce=\"y\"", Errc::protocol},
           Case{"Digest realm=\"x\"", Errc::protocol},
           Case{"Digest realm=\"x, nonce=\"y\"", Errc::protocol},
           Case{"Digest realm=\"x\" nonce=\"y\"", Errc::protocol},
           Case{"Digest realm=\"x\", realm=\"z\", nonce=\"y\"", Errc::protocol},
           Case{"Digest realm=, nonce=\"y\"", Errc::protocol},
           Case{"", Errc::protocol},
           Case{"Digest", Errc::protocol},
           Case{"Digestrealm=\"x\"", Errc::not_supported},
       }) {
    auto challenge = parse_challenge(c.value, false);
    ASSERT_FALSE(challenge) << c.value;
    EXPECT_EQ(challenge.error().code, c.code) << c.value << ": " << challenge.error().message;
  }
  EXPECT_FALSE(parse_challenge("Digest realm=\"" + std::string(10000, 'x') + "\", nonce=n", false));
  EXPECT_EQ(choose({}).error().code, Errc::not_supported);
}

TEST(SipDigest, UnknownParametersAndStale) {
  auto challenge = parse_challenge(
      "digest  stale=TRUE , domain=\"sip:a sip:b\",,realm=x,nonce=y, userhash=false", false);
  ASSERT_TRUE(challenge) << challenge.error().message;
  EXPECT_TRUE(challenge->stale);
  EXPECT_EQ(challenge->realm, "x");
  EXPECT_EQ(challenge->nonce, "y");
}

}  // namespace
}  // namespace sotto::sip::digest
