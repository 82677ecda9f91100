// Private to sotto/xmpp: the XML element model and the streaming parser for
// an XMPP stream (RFC 6120 §4, §11). Namespace-aware: every element carries its
// resolved namespace URI; prefixes are not kept.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sotto/base/base.h"

namespace sotto::xmpp {

namespace ns {
inline constexpr std::string_view stream = "http://etherx.jabber.org/streams";
inline constexpr std::string_view client = "jabber:client";
inline constexpr std::string_view tls = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
inline constexpr std::string_view bind = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view session = "urn:ietf:params:xml:ns:xmpp-session";
inline constexpr std::string_view stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view streams = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view roster = "jabber:iq:roster";
inline constexpr std::string_view register_ = "jabber:iq:register";
inline constexpr std::string_view register_feature = "http://jabber.org/features/iq-register";
inline constexpr std::string_view sm = "urn:xmpp:sm:3";
inline constexpr std::string_view receipts = "urn:xmpp:receipts";
inline constexpr std::string_view carbons = "urn:xmpp:carbons:2";
inline constexpr std::string_view forward = "urn:xmpp:forward:0";
inline constexpr std::string_view mam = "urn:xmpp:mam:2";
inline constexpr std::string_view rsm = "http://jabber.org/protocol/rsm";
inline constexpr std::string_view data_forms = "jabber:x:data";
inline constexpr std::string_view delay = "urn:xmpp:delay";
inline constexpr std::string_view stanza_id = "urn:xmpp:sid:0";
inline constexpr std::string_view disco_info = "http://jabber.org/protocol/disco#info";
inline constexpr std::string_view ping = "urn:xmpp:ping";
inline constexpr std::string_view hints = "urn:xmpp:hints";
}  // namespace ns

class Element {
 public:
  Element() = default;
  Element(std::string name, std::string xmlns) : name_(std::move(name)), ns_(std::move(xmlns)) {}

  const std::string& name() const { return name_; }
  const std::string& xmlns() const { return ns_; }
  bool is(std::string_view name, std::string_view xmlns) const {
    return name_ == name && ns_ == xmlns;
  }

  // Attributes (unprefixed names; "xml:lang" is kept as "xml:lang"; a parsed
  // attribute in another namespace is kept by its local name unless an
  // unprefixed one has that name).
  const std::vector<std::pair<std::string, std::string>>& attrs() const { return attrs_; }
  std::optional<std::string_view> attr(std::string_view name) const;
  std::string attr_or(std::string_view name, std::string_view fallback = {}) const;
  Element& set_attr(std::string name, std::string value);  // replaces an existing one

  // Children in document order: elements and text runs.
  using Node = std::variant<Element, std::string>;
  const std::vector<Node>& nodes() const { return nodes_; }

  Element& add_child(Element child);                        // returns the stored child
  Element& add_child(std::string name, std::string xmlns);  // child in its own namespace
  Element& add_text(std::string text);                      // returns *this

  // First child element with that name and namespace (an empty xmlns matches any).
  const Element* child(std::string_view name, std::string_view xmlns = {}) const;
  Element* child(std::string_view name, std::string_view xmlns = {});
  std::vector<const Element*> children(std::string_view name = {},
                                       std::string_view xmlns = {}) const;
  const Element* first_child() const;

  // Concatenated direct text content.
  std::string text() const;
  // Text of the first matching child, or empty.
  std::string child_text(std::string_view name, std::string_view xmlns = {}) const;

  // Serializes with xmlns attributes wherever an element's namespace differs
  // from its parent's (parent_ns is the namespace in scope around it). Text
  // and attribute values are escaped.
  std::string to_string(std::string_view parent_ns = {}) const;

 private:
  std::string name_;
  std::string ns_;
  std::vector<std::pair<std::string, std::string>> attrs_;
  std::vector<Node> nodes_;
};

// Escapes & < > " ' for text and attribute values; tab, newline and carriage
// return become character references (so attribute values keep them), and
// bytes not allowed in XML 1.0 (control characters, broken UTF-8) become
// U+FFFD. Element::to_string escapes the same way (text keeps tab and newline).
std::string xml_escape(std::string_view text);

struct ParserLimits {
  std::size_t max_stanza_bytes = 512 * 1024;  // bytes of one top-level child, as received
  std::size_t max_depth = 32;                 // element depth inside a stanza
  std::size_t max_attributes = 64;            // per element
  std::size_t max_children = 10000;           // nodes per stanza, in total
};

// Streaming parser for one XMPP stream. Feed it bytes as they arrive; it calls
// back with the stream header, each complete top-level child ("stanza",
// including stream features, SASL and SM nonzas), and the stream end.
// Refuses DTDs, entity declarations, processing instructions, comments and
// anything over the limits: after an error it stays failed until reset().
class StreamParser {
 public:
  struct Callbacks {
    // <stream:stream ...> opened; attributes by local name (from, to, id, version, xml:lang).
    std::function<void(const Element& header)> on_stream_open;
    std::function<void(Element stanza)> on_stanza;
    std::function<void()> on_stream_close;
  };

  explicit StreamParser(Callbacks callbacks, ParserLimits limits = {});
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  // Parses the bytes; returns an error (Errc::protocol, with a message saying
  // what was wrong: "stanza too large", "not well-formed (line 1)") once the
  // stream is broken. Callbacks may run during the call, and may call reset()
  // (for a stream restart after STARTTLS or SASL): the rest of the buffer is
  // then dropped, which is correct for XMPP since the peer waits for our new
  // stream header.
  [[nodiscard]] Result<void> feed(std::string_view bytes);

  // Forgets all state, ready for a new <stream:stream>.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses one standalone element (no stream wrapper), with the default
// namespace given. For tests and fuzzing.
[[nodiscard]] Result<Element> parse_element(std::string_view xml,
                                            std::string_view default_ns = ns::client,
                                            ParserLimits limits = {});

}  // namespace sotto::xmpp
