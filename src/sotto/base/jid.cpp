// Jid parsing after RFC 7622, without PRECIS/IDNA tables: ASCII is checked and
// case-folded, other valid UTF-8 passes through unchanged.
#include <arpa/inet.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sotto/base/base.h"

namespace sotto {
namespace {

constexpr std::size_t kMaxPartBytes = 1023;  // RFC 7622 §3.2, §3.3, §3.4

// Decodes one UTF-8 code point at text[pos]; advances pos. nullopt on
// malformed input (truncated, overlong, surrogate, beyond U+10FFFF).
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  // Sequence length, payload bits of the lead byte, smallest non-overlong value.
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    cp = lead & 0x1F;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    cp = lead & 0x0F;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    cp = lead & 0x07;
    min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text.size() - pos < length) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    const unsigned char c = byte(pos + i);
    if ((c & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  pos += length;
  return cp;
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

// Unicode space separators (Zs) and line/paragraph separators.
bool is_space(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    if (!next_code_point(text, pos)) return false;
  }
  return true;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The input as it may appear in a message: shortened, control characters
// replaced, so that a hostile address cannot forge log lines.
std::string quoted(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "\"";
  std::size_t shown = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    if (shown == kMaxShown) {
      out += "...";
      break;
    }
    const std::size_t start = pos;
    auto cp = next_code_point(text, pos);
    if (!cp) {
      out += '?';
      ++pos;
    } else if (is_control(*cp)) {
      out += '?';
    } else {
      out.append(text.substr(start, pos - start));
    }
    ++shown;
  }
  out += '"';
  return out;
}

std::string describe_char(char c) {
  if (c == ' ') return "spaces";
  return std::string("'") + c + "'";
}

// Returns the reason the local part is invalid, or empty if it is fine.
std::string check_local(std::string_view local) {
  if (local.empty()) return "the part before @ is empty";
  if (local.size() > kMaxPartBytes) return "the part before @ is longer than 1023 bytes";
  for (std::size_t pos = 0; pos < local.size();) {
    const char32_t cp = *next_code_point(local, pos);
    if (is_control(cp)) return "the part before @ contains a control character";
    if (cp < 0x80) {
      constexpr std::string_view kForbidden = "\"&'/:<>@ ";  // RFC 7622 §3.3.1
      if (kForbidden.find(static_cast<char>(cp)) != std::string_view::npos)
        return "the part before @ cannot contain " + describe_char(static_cast<char>(cp));
    } else if (is_space(cp)) {
      return "the part before @ cannot contain spaces";
    }
  }
  return {};
}

std::string check_domain(std::string_view domain) {
  if (domain.empty()) return "the server name is missing";
  if (domain.size() > kMaxPartBytes) return "the server name is longer than 1023 bytes";
  if (domain.front() == '[') {  // RFC 7622 §3.2: IP-literal, RFC 3986 §3.2.2
    const std::string inner(domain.substr(1, domain.size() - (domain.back() == ']' ? 2 : 1)));
    in6_addr address{};
    if (domain.back() != ']' || inet_pton(AF_INET6, inner.c_str(), &address) != 1)
      return "the server name " + quoted(domain) + " is not a valid IPv6 address";
    return {};
  }
  std::size_t label_start = 0;
  for (std::size_t pos = 0; pos <= domain.size();) {
    if (pos == domain.size() || domain[pos] == '.') {
      if (pos == label_start) return "the server name has an empty part between dots";
      if (domain[label_start] == '-' || domain[pos - 1] == '-')
        return "a part of the server name cannot begin or end with '-'";
      label_start = ++pos;
      continue;
    }
    const char32_t cp = *next_code_point(domain, pos);
    if (is_control(cp)) return "the server name contains a control character";
    if (is_space(cp)) return "the server name cannot contain spaces";
    if (cp < 0x80 && !((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || cp == '-'))
      return "the server name cannot contain " + describe_char(static_cast<char>(cp));
  }
  return {};
}

std::string check_resource(std::string_view resource) {
  if (resource.empty()) return "the part after / is empty";
  if (resource.size() > kMaxPartBytes) return "the part after / is longer than 1023 bytes";
  for (std::size_t pos = 0; pos < resource.size();) {
    if (is_control(*next_code_point(resource, pos)))
      return "the part after / contains a control character";
  }
  return {};
}

}  // namespace

Result<Jid> Jid::parse(std::string_view text) {
  const auto invalid = [&](std::string_view reason) {
    return fail(Errc::invalid_argument,
                quoted(text) + " is not a valid address: " + std::string(reason));
  };
  if (text.empty()) return fail(Errc::invalid_argument, "the address is empty");
  if (!valid_utf8(text)) return invalid("it is not valid UTF-8 text");

  // RFC 7622 §3.1: the first '/' starts the resource; the first '@' before it
  // ends the local part.
  std::string_view bare = text;
  std::optional<std::string_view> resource;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    bare = text.substr(0, slash);
    resource = text.substr(slash + 1);
  }
  std::optional<std::string_view> local;
  std::string_view domain = bare;
  if (const auto at = bare.find('@'); at != std::string_view::npos) {
    local = bare.substr(0, at);
    domain = bare.substr(at + 1);
  }
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);  // §3.2: one trailing dot

  Jid jid;
  jid.domain_ = ascii_lower(domain);
  if (auto reason = check_domain(jid.domain_); !reason.empty()) return invalid(reason);
  if (local) {
    jid.local_ = ascii_lower(*local);
    if (auto reason = check_local(jid.local_); !reason.empty()) return invalid(reason);
  }
  if (resource) {
    if (auto reason = check_resource(*resource); !reason.empty()) return invalid(reason);
    jid.resource_ = std::string(*resource);
  }
  return jid;
}

Jid Jid::bare() const {
  Jid jid = *this;
  jid.resource_.clear();
  return jid;
}

Jid Jid::with_resource(std::string resource) const {
  Jid jid = *this;
  jid.resource_ = std::move(resource);
  return jid;
}

std::string Jid::bare_str() const {
  if (local_.empty()) return domain_;
  return local_ + '@' + domain_;
}

std::string Jid::str() const {
  if (resource_.empty()) return bare_str();
  return bare_str() + '/' + resource_;
}

}  // namespace sotto
