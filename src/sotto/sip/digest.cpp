#include "sotto/sip/digest.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include <openssl/evp.h>

namespace sotto::sip::digest {
namespace {

// A challenge is one header value; more than this is not a challenge.
constexpr std::size_t kMaxChallenge = 8192;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// RFC 7230 §3.2.6 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  if (iequals(name, "MD5")) return Algorithm::md5;
  if (iequals(name, "MD5-sess")) return Algorithm::md5_sess;
  if (iequals(name, "SHA-256")) return Algorithm::sha256;
  if (iequals(name, "SHA-256-sess")) return Algorithm::sha256_sess;
  return std::nullopt;
}

std::string_view algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::md5:
      return "MD5";
    case Algorithm::md5_sess:
      return "MD5-sess";
    case Algorithm::sha256:
      return "SHA-256";
    case Algorithm::sha256_sess:
      return "SHA-256-sess";
  }
  return "MD5";
}

bool is_sha256(Algorithm algorithm) {
  return algorithm == Algorithm::sha256 || algorithm == Algorithm::sha256_sess;
}

bool is_sess(Algorithm algorithm) {
  return algorithm == Algorithm::md5_sess || algorithm == Algorithm::sha256_sess;
}

// Lowercase hex of the MD5 or SHA-256 of `text` (RFC 7616 §3.4.1).
std::string hash_hex(Algorithm algorithm, std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const EVP_MD* md = is_sha256(algorithm) ? EVP_sha256() : EVP_md5();
  if (EVP_Digest(text.data(), text.size(), digest, &size, md, nullptr) != 1) return {};
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

std::string quote_value(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

Result<Challenge> parse_challenge(std::string_view value, bool proxy) {
  if (value.size() > kMaxChallenge) return fail(Errc::protocol, "The digest challenge is too long");
  std::string_view rest = trim(value);
  std::size_t scheme_end = 0;
  while (scheme_end < rest.size() && is_token_char(rest[scheme_end])) ++scheme_end;
  const std::string_view scheme = rest.substr(0, scheme_end);
  if (scheme.empty()) return fail(Errc::protocol, "The authentication challenge has no scheme");
  if (!iequals(scheme, "Digest")) {
    return fail(Errc::not_supported,
                "The server asks for " + std::string(scheme) + " authentication, not Digest");
  }
  rest.remove_prefix(scheme_end);
  if (!rest.empty() && !is_space(rest.front())) {
    return fail(Errc::protocol, "The digest challenge is malformed");
  }

  Challenge challenge;
  challenge.proxy = proxy;
  bool have_realm = false;
  bool have_nonce = false;
  bool have_algorithm = false;
  std::string algorithm_text;
  std::string qop_text;
  std::size_t pos = 0;
  const auto malformed = [] { return fail(Errc::protocol, "The digest challenge is malformed"); };
  while (true) {
    while (pos < rest.size() && (is_space(rest[pos]) || rest[pos] == ',')) ++pos;
    if (pos >= rest.size()) break;
    const std::size_t name_start = pos;
    while (pos < rest.size() && is_token_char(rest[pos])) ++pos;
    const std::string_view name = rest.substr(name_start, pos - name_start);
    if (name.empty()) return malformed();
    while (pos < rest.size() && is_space(rest[pos])) ++pos;
    if (pos >= rest.size() || rest[pos] != '=') return malformed();
    ++pos;
    while (pos < rest.size() && is_space(rest[pos])) ++pos;
    std::string param;
    if (pos < rest.size() && rest[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < rest.size()) {
        const char c = rest[pos++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (pos >= rest.size()) break;
          param += rest[pos++];
        } else {
          param += c;
        }
      }
      if (!closed) return malformed();
    } else {
      const std::size_t value_start = pos;
      while (pos < rest.size() && is_token_char(rest[pos])) ++pos;
      param = std::string(rest.substr(value_start, pos - value_start));
      if (param.empty()) return malformed();
    }
    while (pos < rest.size() && is_space(rest[pos])) ++pos;
    if (pos < rest.size() && rest[pos] != ',') return malformed();

    const auto set_once = [&](bool& seen, std::string& field) {
      if (seen) return false;
      seen = true;
      field = std::move(param);
      return true;
    };
    bool ok = true;
    if (iequals(name, "realm")) {
      ok = set_once(have_realm, challenge.realm);
    } else if (iequals(name, "nonce")) {
      ok = set_once(have_nonce, challenge.nonce);
    } else if (iequals(name, "opaque")) {
      challenge.opaque = std::move(param);
    } else if (iequals(name, "algorithm")) {
      ok = set_once(have_algorithm, algorithm_text);
    } else if (iequals(name, "qop")) {
      ok = !challenge.qop_offered;
      challenge.qop_offered = true;
      qop_text = std::move(param);
    } else if (iequals(name, "stale")) {
      challenge.stale = iequals(param, "true");
    }
    if (!ok) return fail(Errc::protocol, "The digest challenge repeats a parameter");
  }
  if (!have_realm || !have_nonce) {
    return fail(Errc::protocol, "The digest challenge lacks a realm or nonce");
  }
  if (have_algorithm) {
    const auto algorithm = parse_algorithm(trim(algorithm_text));
    if (!algorithm) {
      return fail(Errc::not_supported,
                  "The server asks for the unsupported digest algorithm " + algorithm_text);
    }
    challenge.algorithm = *algorithm;
  }
  if (challenge.qop_offered) {
    std::string_view list = qop_text;
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (iequals(trim(list.substr(0, comma)), "auth")) challenge.qop_auth = true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    if (!challenge.qop_auth) {
      return fail(Errc::not_supported, "The server offers only digest qop=auth-int");
    }
  }
  return challenge;
}

Result<Challenge> choose(const std::vector<Challenge>& challenges) {
  const Challenge* best = nullptr;
  for (const auto& challenge : challenges) {
    if (best == nullptr || (is_sha256(challenge.algorithm) && !is_sha256(best->algorithm))) {
      best = &challenge;
    }
  }
  if (best == nullptr) {
    return fail(Errc::not_supported, "The server offers no digest authentication we support");
  }
  return *best;
}

std::string authorization(const Challenge& challenge, const Answer& answer) {
  const Algorithm algorithm = challenge.algorithm;
  const bool qop = challenge.qop_auth;
  std::string cnonce = answer.cnonce;
  if (cnonce.empty() && (qop || is_sess(algorithm))) cnonce = random_id(24);

  // RFC 7616 §3.4.2 (RFC 2617 §3.2.2.2): A1, with the -sess variant.
  std::string a1 = answer.user + ":" + challenge.realm + ":" + answer.password;
  std::string ha1 = hash_hex(algorithm, a1);
  secure_wipe(a1);
  if (is_sess(algorithm)) {
    std::string session = ha1 + ":" + challenge.nonce + ":" + cnonce;
    secure_wipe(ha1);
    ha1 = hash_hex(algorithm, session);
    secure_wipe(session);
  }
  const std::string ha2 = hash_hex(algorithm, answer.method + ":" + answer.uri);
  char nc[9];
  std::snprintf(nc, sizeof nc, "%08x", answer.nc);
  std::string response;
  if (qop) {
    response =
        hash_hex(algorithm, ha1 + ":" + challenge.nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2);
  } else {
    response = hash_hex(algorithm, ha1 + ":" + challenge.nonce + ":" + ha2);
  }
  secure_wipe(ha1);

  std::string out = "Digest username=" + quote_value(answer.user);
  out += ", realm=" + quote_value(challenge.realm);
  out += ", nonce=" + quote_value(challenge.nonce);
  out += ", uri=" + quote_value(answer.uri);
  out += ", response=" + quote_value(response);
  out += ", algorithm=";
  out += algorithm_name(algorithm);
  if (qop || is_sess(algorithm)) out += ", cnonce=" + quote_value(cnonce);
  if (qop) {
    out += ", qop=auth, nc=";
    out += nc;
  }
  if (!challenge.opaque.empty()) out += ", opaque=" + quote_value(challenge.opaque);
  return out;
}

}  // namespace sotto::sip::digest
