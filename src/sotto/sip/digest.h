// Private to sotto/sip: HTTP digest authentication for SIP (RFC 3261 §22,
// RFC 8760 for SHA-256, RFC 7616's grammar), the client side.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::sip::digest {

enum class Algorithm { md5, md5_sess, sha256, sha256_sess };

struct Challenge {
  bool proxy = false;  // from Proxy-Authenticate (answer with Proxy-Authorization)
  std::string realm;
  std::string nonce;
  std::string opaque;
  Algorithm algorithm = Algorithm::md5;  // absent means MD5
  bool qop_auth = false;                 // "auth" among the offered qop values
  bool qop_offered = false;              // a qop parameter was present at all
  bool stale = false;
};

// Parses a WWW-Authenticate / Proxy-Authenticate value ("Digest realm=...,
// nonce=..., ..."): quoted and token values, any order, unknown parameters
// ignored. Errc::not_supported for another scheme, an unknown algorithm, or
// qop offered without "auth" (auth-int only); Errc::protocol when malformed
// or realm/nonce are missing. Network input: bounded, never crashes.
[[nodiscard]] Result<Challenge> parse_challenge(std::string_view value, bool proxy);

// Of several challenges in one response, the one to answer: SHA-256 before
// MD5, supported ones only. Errc::not_supported when none is.
[[nodiscard]] Result<Challenge> choose(const std::vector<Challenge>& challenges);

struct Answer {
  std::string user;
  std::string password;
  std::string method;  // "REGISTER", "INVITE", ...
  std::string uri;     // the Request-URI as sent
  uint32_t nc = 1;     // nonce count (with qop)
  std::string cnonce;  // random (with qop or -sess); tests pass a fixed one
};

// The Authorization / Proxy-Authorization header value:
// Digest username="..", realm="..", nonce="..", uri="..", response="..",
// algorithm=.., [cnonce="..", qop=auth, nc=00000001,] [opaque=".."].
std::string authorization(const Challenge& challenge, const Answer& answer);

}  // namespace sotto::sip::digest
