#include "sotto/otr/pidgin.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::otr {
namespace {

constexpr std::size_t kMaxFileBytes = std::size_t{8} << 20;
constexpr int kMaxDepth = 32;  // a key file nests 5 deep
// libgcrypt keeps an atom's length in 16 bits (sexp.c, DATALEN).
constexpr std::size_t kMaxAtomBytes = 0xffff;
constexpr std::string_view kPidginProtocol = "prpl-jabber";
// otrl_privkey_read_fingerprints_FILEp reads lines with fgets into
// char[1000]: a longer line would come back as two broken ones.
constexpr std::size_t kMaxTrustLineBytes = 998;  // before the '\n'

constexpr std::string_view kNotKeys = "this is not a Pidgin otr.private_key file";
constexpr std::string_view kNotFingerprints = "this is not a Pidgin otr.fingerprints file";

[[nodiscard]] Unexpected not_a(std::string_view what, std::string_view why) {
  return fail(Errc::invalid_argument, std::string(what) + " (" + std::string(why) + ")");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// libgcrypt's token characters (sexp.c, tokenchars); a token does not start
// with a digit, which would begin a length prefix.
bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
         std::string_view("-./_:*+=").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty() || is_digit(text[0])) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// --- S-expressions ------------------------------------------------------------

// An atom or a list. Atoms carry private keys: they are wiped on release, and
// built in buffers sized in advance so that no reallocation leaves a copy.
struct Node {
  Node() = default;
  Node(Node&&) noexcept = default;
  Node& operator=(Node&&) = delete;
  ~Node() { secure_wipe(atom); }

  bool is_list = false;
  std::string atom;
  std::vector<Node> items;

  // A list's first element when it is an atom: "(name ...)" is "name".
  std::string_view tag() const {
    if (!is_list || items.empty() || items[0].is_list) return {};
    return items[0].atom;
  }
  // The first element list tagged `name`.
  const Node* child(std::string_view name) const {
    for (const Node& item : items) {
      if (item.tag() == name) return &item;
    }
    return nullptr;
  }
  // The atom in "(name atom)".
  const std::string* value_of(std::string_view name) const {
    const Node* c = child(name);
    if (c == nullptr || c->items.size() < 2 || c->items[1].is_list) return nullptr;
    return &c->items[1].atom;
  }
};

// The text syntax gcry_sexp_sscan reads (libgcrypt's "advanced" format, which
// libotr and Pidgin write): lists, tokens, "quoted strings" with C escapes,
// #hex#, and length-prefixed 4:data, 4"data", 2#abcd#. Base64 (|..|),
// display hints ([..]) and transport blocks ({..}) never appear in libotr's
// files and are refused.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<Node> document() {
    skip_space();
    if (at_end()) return error("it is empty");
    if (text_[pos_] != '(') return error("it does not start with '('");
    auto root = list(1);
    if (!root) return root;
    skip_space();
    if (!at_end()) return error("there is more after the last ')'");
    return root;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }

  void skip_space() {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }

  Unexpected error(std::string_view why) const {
    return not_a(kNotKeys, std::string(why) + ", at byte " + std::to_string(pos_));
  }

  Result<Node> list(int depth) {
    if (depth > kMaxDepth) return error("lists are nested too deeply");
    ++pos_;  // '('
    Node node;
    node.is_list = true;
    for (;;) {
      skip_space();
      if (at_end()) return error("a '(' is never closed");
      const char c = text_[pos_];
      if (c == ')') {
        ++pos_;
        return node;
      }
      if (c == '(') {
        auto item = list(depth + 1);
        if (!item) return item;
        node.items.push_back(std::move(*item));
        continue;
      }
      Node item;
      auto data = atom();
      if (!data) return tl::make_unexpected(data.error());
      item.atom = std::move(*data);
      node.items.push_back(std::move(item));
    }
  }

  Result<std::string> atom() {
    const char c = text_[pos_];
    if (c == '"') return quoted(std::nullopt);
    if (c == '#') return hex(std::nullopt);
    if (is_digit(c)) return prefixed();
    if (is_token_char(c)) {
      const std::size_t start = pos_;
      while (!at_end() && is_token_char(text_[pos_])) ++pos_;
      return sized(text_.substr(start, pos_ - start));
    }
    if (c == '|') return error("base64 data is not supported");
    if (c == '[') return error("display hints are not supported");
    if (c == '{') return error("transport encoding is not supported");
    return error("unexpected character");
  }

  Result<std::string> sized(std::string_view data) {
    if (data.size() > kMaxAtomBytes) return error("a value is too long");
    std::string out;
    out.reserve(data.size());
    out.append(data);
    return out;
  }

  // 4:data, 4"data" or 2#abcd#.
  Result<std::string> prefixed() {
    std::size_t length = 0;
    while (!at_end() && is_digit(text_[pos_])) {
      length = length * 10 + static_cast<std::size_t>(text_[pos_] - '0');
      if (length > kMaxAtomBytes) return error("a value is too long");
      ++pos_;
    }
    if (at_end()) return error("a length is not followed by its data");
    const char c = text_[pos_];
    if (c == '"') return quoted(length);
    if (c == '#') return hex(length);
    if (c != ':') return error("a length is not followed by ':'");
    ++pos_;
    if (text_.size() - pos_ < length) return error("a value is cut short");
    auto out = sized(text_.substr(pos_, length));
    pos_ += length;
    return out;
  }

  // "text" with libgcrypt's escapes: \b \t \v \n \f \r \" \' \\, \ooo (three
  // octal digits), \xhh, and a backslash before a line break (dropped).
  Result<std::string> quoted(std::optional<std::size_t> length) {
    const std::size_t start = ++pos_;
    std::size_t end = start;
    while (end < text_.size() && text_[end] != '"') end += text_[end] == '\\' ? 2 : 1;
    if (end >= text_.size()) return error("a quoted string is never closed");
    if (end - start > kMaxAtomBytes) return error("a value is too long");
    std::string out;
    out.reserve(end - start);
    while (pos_ < end) {
      const char c = text_[pos_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      const char e = text_[pos_++];
      switch (e) {
        case 'b':
          out.push_back('\b');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case '"':
        case '\'':
        case '\\':
          out.push_back(e);
          break;
        case '\r':
        case '\n':
          if (pos_ < end && (text_[pos_] == '\r' || text_[pos_] == '\n') && text_[pos_] != e) {
            ++pos_;
          }
          break;
        case 'x': {
          const int hi = pos_ + 1 < end ? hex_value(text_[pos_]) : -1;
          const int lo = pos_ + 1 < end ? hex_value(text_[pos_ + 1]) : -1;
          if (hi < 0 || lo < 0) return error("a \\x escape needs two hex digits");
          out.push_back(static_cast<char>(hi * 16 + lo));
          pos_ += 2;
          break;
        }
        default: {
          const auto octal = [&](std::size_t i) {
            return i < end && text_[i] >= '0' && text_[i] <= '7' ? text_[i] - '0' : -1;
          };
          const int a = e >= '0' && e <= '7' ? e - '0' : -1;
          const int b = octal(pos_);
          const int d = octal(pos_ + 1);
          if (a < 0 || b < 0 || d < 0 || a > 3) return error("an unknown escape in a string");
          out.push_back(static_cast<char>(a * 64 + b * 8 + d));
          pos_ += 2;
        }
      }
    }
    ++pos_;  // '"'
    if (length && *length != out.size()) return error("a string does not have its length");
    return out;
  }

  // #hex digits#, white space allowed between them.
  Result<std::string> hex(std::optional<std::size_t> length) {
    const std::size_t start = ++pos_;
    std::size_t digits = 0;
    std::size_t end = start;
    for (; end < text_.size() && text_[end] != '#'; ++end) {
      if (hex_value(text_[end]) >= 0) {
        ++digits;
      } else if (!is_space(text_[end])) {
        pos_ = end;
        return error("a hex value holds something else than hex digits");
      }
    }
    if (end >= text_.size()) return error("a hex value is never closed");
    if (digits % 2 != 0) return error("a hex value has an odd number of digits");
    if (digits / 2 > kMaxAtomBytes) return error("a value is too long");
    std::string out;
    out.reserve(digits / 2);
    int high = -1;
    for (; pos_ < end; ++pos_) {
      const int v = hex_value(text_[pos_]);
      if (v < 0) continue;
      if (high < 0) {
        high = v;
      } else {
        out.push_back(static_cast<char>(high * 16 + v));
        high = -1;
      }
    }
    ++pos_;  // '#'
    if (length && *length != out.size()) return error("a hex value does not have its length");
    return out;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

template <class Out>
void write_hex(Out& out, std::string_view data) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('#');
  for (char c : data) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(kHex[u >> 4]);
    out.push_back(kHex[u & 0xf]);
  }
  out.push_back('#');
}

// An atom as gcry_sexp_sprint writes it: a token when it can be, else a
// quoted string, else (control codes) hex.
template <class Out>
void write_name(Out& out, std::string_view atom) {
  bool printable = true;
  for (char c : atom) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) printable = false;
  }
  if (is_token(atom)) {
    out.append(atom);
  } else if (printable) {
    out.push_back('"');
    for (char c : atom) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  } else {
    write_hex(out, atom);
  }
}

// Counts what a write would produce, so that the secret blob is written into
// a buffer of its final size.
struct Counter {
  std::size_t size = 0;
  void append(std::string_view text) { size += text.size(); }
  void push_back(char) { ++size; }
};

constexpr std::string_view kDsaParts[] = {"p", "q", "g", "y", "x"};

// The numbers of "(private-key (dsa (p #..#) (q #..#) (g #..#) (y #..#)
// (x #..#)))", in kDsaParts' order; empty if it is not such a key. libotr
// reads p, q, g, y (make_pubkey) and signs with x. Only these are written
// back: libotr looks them up with gcry_sexp_find_token, which would take the
// first "dsa" or "p" at any depth of whatever else the list held.
std::vector<const std::string*> dsa_numbers(const Node& private_key) {
  std::vector<const std::string*> numbers;
  const Node* dsa = private_key.child("dsa");
  if (dsa == nullptr) return {};
  for (std::string_view part : kDsaParts) {
    const std::string* value = dsa->value_of(part);
    if (value == nullptr || value->empty()) return {};
    numbers.push_back(value);
  }
  return numbers;
}

// --- Names --------------------------------------------------------------------

Result<std::string> bare_account(std::string_view account) {
  auto jid = Jid::parse(account);
  if (!jid || jid->local().empty()) {
    return fail(Errc::invalid_argument,
                "the account for an OTR import must be an XMPP address (user@example.org)");
  }
  if (!jid->is_bare()) {
    return fail(Errc::invalid_argument,
                "OTR keys belong to the bare account address, without a resource");
  }
  return jid->bare_str();
}

Result<void> check_protocol(std::string_view protocol) {
  if (protocol.empty()) return fail(Errc::invalid_argument, "the OTR protocol name is empty");
  for (char c : protocol) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return fail(Errc::invalid_argument, "the OTR protocol name holds spaces or control codes");
    }
  }
  return {};
}

// Pidgin's name for the account, "alice@example.org/Pidgin", against the
// bare account.
bool same_account(std::string_view pidgin_name, const std::string& bare) {
  auto jid = Jid::parse(pidgin_name);
  return jid && !jid->local().empty() && jid->bare_str() == bare;
}

int trust_rank(std::string_view trust) {
  if (trust == "verified") return 2;
  return trust.empty() ? 0 : 1;  // "smp", or another client's word: libotr trusts it
}

}  // namespace

Result<PidginKeys> pidgin_keys_for(std::string_view file_text, std::string_view account,
                                   std::string_view protocol) {
  auto bare = bare_account(account);
  if (!bare) return tl::make_unexpected(bare.error());
  if (auto ok = check_protocol(protocol); !ok) return tl::make_unexpected(ok.error());
  if (file_text.size() > kMaxFileBytes) return not_a(kNotKeys, "it is far too large");
  if (file_text.find_first_not_of(" \t\r\n\v\f") == std::string_view::npos) return PidginKeys{};

  auto root = Parser(file_text).document();
  if (!root) return tl::make_unexpected(root.error());
  if (root->tag() != "privkeys") return not_a(kNotKeys, "it does not start with (privkeys");

  // The last matching key wins, the newest (see pidgin.h); the whole file
  // is checked, as libotr would refuse it whole.
  std::vector<const std::string*> chosen;
  for (std::size_t i = 1; i < root->items.size(); ++i) {
    const Node& entry = root->items[i];
    if (entry.tag() != "account") return not_a(kNotKeys, "an entry is not an (account ...)");
    const std::string* name = entry.value_of("name");
    const std::string* proto = entry.value_of("protocol");
    const Node* key = entry.child("private-key");
    if (name == nullptr || proto == nullptr || key == nullptr) {
      return not_a(kNotKeys, "an account lacks its name, protocol or private-key");
    }
    if (*proto != kPidginProtocol || !same_account(*name, *bare)) continue;
    chosen = dsa_numbers(*key);
    if (chosen.empty()) {
      return fail(Errc::invalid_argument,
                  "the OTR key for this account in otr.private_key is not a DSA key");
    }
  }
  if (chosen.empty()) return PidginKeys{};

  // What libotr's account_write produces, with Sotto's names.
  auto write = [&](auto& out) {
    out.append("(privkeys\n (account\n  (name ");
    write_name(out, account);
    out.append(")\n  (protocol ");
    write_name(out, protocol);
    out.append(")\n  (private-key\n   (dsa");
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      out.append("\n    (");
      out.append(kDsaParts[i]);
      out.push_back(' ');
      write_hex(out, *chosen[i]);
      out.push_back(')');
    }
    out.append("\n   )\n  )\n )\n)\n");
  };
  Counter counter;
  write(counter);
  PidginKeys keys;
  keys.blob.reserve(counter.size);
  write(keys.blob);
  keys.count = 1;
  return keys;
}

Result<PidginTrust> pidgin_fingerprints_for(std::string_view file_text, std::string_view account,
                                            std::string_view protocol) {
  auto bare = bare_account(account);
  if (!bare) return tl::make_unexpected(bare.error());
  if (auto ok = check_protocol(protocol); !ok) return tl::make_unexpected(ok.error());
  if (file_text.size() > kMaxFileBytes) return not_a(kNotFingerprints, "it is far too large");
  if (file_text.find('\0') != std::string_view::npos) {
    return not_a(kNotFingerprints, "it holds binary data");
  }

  struct Entry {
    std::string contact;
    std::string hex;
    std::string trust;
  };
  std::vector<Entry> entries;
  std::map<std::pair<std::string, std::string>, std::size_t> index;  // (contact, hex)
  PidginTrust result;
  std::size_t lines = 0;
  std::size_t readable = 0;

  while (!file_text.empty()) {
    const std::size_t eol = file_text.find('\n');
    std::string_view line = file_text.substr(0, eol);
    file_text = eol == std::string_view::npos ? std::string_view() : file_text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    ++lines;

    // username, account, protocol, fingerprint[, trust]
    std::vector<std::string_view> fields;
    bool control = false;
    for (std::size_t start = 0;;) {
      const std::size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
      if (tab == std::string_view::npos) break;
      start = tab + 1;
    }
    for (char c : line) {
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') control = true;
    }
    if (control || fields.size() < 4 || fields.size() > 5 || fields[3].size() != 40) {
      ++result.skipped;
      continue;
    }
    std::string hex(fields[3]);
    bool is_hex = true;
    for (char& c : hex) {
      if (hex_value(c) < 0) is_hex = false;
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    if (!is_hex) {
      ++result.skipped;
      continue;
    }
    ++readable;
    if (fields[2] != kPidginProtocol || !same_account(fields[1], *bare)) continue;

    auto contact = Jid::parse(fields[0]);
    const std::string_view trust = fields.size() == 5 ? fields[4] : std::string_view();
    if (!contact) {
      ++result.skipped;
      continue;
    }
    std::string name = contact->bare_str();
    if (name.size() + account.size() + protocol.size() + hex.size() + trust.size() + 4 >
        kMaxTrustLineBytes) {
      ++result.skipped;
      continue;
    }
    auto [it, added] = index.emplace(std::make_pair(name, hex), entries.size());
    if (added) {
      entries.push_back(Entry{std::move(name), std::move(hex), std::string(trust)});
    } else if (trust_rank(trust) > trust_rank(entries[it->second].trust)) {
      entries[it->second].trust = std::string(trust);
    }
  }
  if (lines > 0 && readable == 0) {
    return not_a(kNotFingerprints,
                 "no line reads username, account, protocol, fingerprint, trust "
                 "separated by tabs");
  }

  // The lines libotr's otrl_privkey_write_fingerprints_FILEp writes.
  for (const Entry& e : entries) {
    result.blob.append(e.contact).append("\t").append(account).append("\t").append(protocol);
    result.blob.append("\t").append(e.hex).append("\t").append(e.trust).append("\n");
  }
  result.count = entries.size();
  return result;
}

}  // namespace sotto::otr
