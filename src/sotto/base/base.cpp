#include "sotto/base/base.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace sotto {
namespace {

constexpr char kLowerHex[] = "0123456789abcdef";
constexpr char kUpperHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::io:
      return "io";
    case Errc::network:
      return "network";
    case Errc::timeout:
      return "timeout";
    case Errc::tls:
      return "tls";
    case Errc::certificate:
      return "certificate";
    case Errc::auth:
      return "auth";
    case Errc::conflict:
      return "conflict";
    case Errc::not_supported:
      return "not_supported";
    case Errc::not_allowed:
      return "not_allowed";
    case Errc::protocol:
      return "protocol";
    case Errc::cancelled:
      return "cancelled";
    case Errc::not_connected:
      return "not_connected";
  }
  return "unknown";
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string text) {
  for (char& c : text) c = ascii_lower(c);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out += kLowerHex[byte >> 4];
    out += kLowerHex[byte & 0xF];
  }
  return out;
}

std::optional<std::string> normalize_fingerprint(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == ':' || c == ' ') continue;
    const int value = hex_value(c);
    if (value < 0) return std::nullopt;
    out += kLowerHex[value];
  }
  // 32 (128-bit digests) up to 128 (SHA-512) hex digits.
  if (out.size() % 2 != 0 || out.size() < 32 || out.size() > 128) return std::nullopt;
  return out;
}

std::string format_fingerprint(std::string_view lower_hex) {
  std::string out;
  out.reserve(lower_hex.size() * 3 / 2);
  for (std::size_t i = 0; i < lower_hex.size(); ++i) {
    if (i > 0 && i % 2 == 0) out += ':';
    const int value = hex_value(lower_hex[i]);
    out += value < 0 ? lower_hex[i] : kUpperHex[value];
  }
  return out;
}

std::string random_id(std::size_t length) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 248 = 4 * 62: bytes at or above it are dropped so every letter is equally likely.
  constexpr unsigned kLimit = 256 - 256 % kAlphabet.size();
  std::string out;
  out.reserve(length);
  unsigned char buffer[64];
  while (out.size() < length) {
    if (RAND_bytes(buffer, sizeof buffer) != 1) {
      std::fputs("sotto: the system random number generator failed\n", stderr);
      std::abort();
    }
    for (unsigned char byte : buffer) {
      if (out.size() == length) break;
      if (byte < kLimit) out += kAlphabet[byte % kAlphabet.size()];
    }
  }
  return out;
}

}  // namespace sotto
