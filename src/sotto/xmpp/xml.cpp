#include "sotto/xmpp/xml.h"

#include <expat.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <new>

namespace sotto::xmpp {

// ---------------------------------------------------------------------------
// Element

std::optional<std::string_view> Element::attr(std::string_view name) const {
  for (const auto& [key, value] : attrs_) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string Element::attr_or(std::string_view name, std::string_view fallback) const {
  return std::string(attr(name).value_or(fallback));
}

Element& Element::set_attr(std::string name, std::string value) {
  for (auto& [key, existing] : attrs_) {
    if (key == name) {
      existing = std::move(value);
      return *this;
    }
  }
  attrs_.emplace_back(std::move(name), std::move(value));
  return *this;
}

Element& Element::add_child(Element child) {
  return std::get<Element>(nodes_.emplace_back(std::move(child)));
}

Element& Element::add_child(std::string name, std::string xmlns) {
  return add_child(Element(std::move(name), std::move(xmlns)));
}

Element& Element::add_text(std::string text) {
  if (text.empty()) return *this;
  if (!nodes_.empty()) {
    if (auto* last = std::get_if<std::string>(&nodes_.back())) {
      *last += text;
      return *this;
    }
  }
  nodes_.emplace_back(std::move(text));
  return *this;
}

namespace {

bool matches(const Element& element, std::string_view name, std::string_view xmlns) {
  return (name.empty() || element.name() == name) && (xmlns.empty() || element.xmlns() == xmlns);
}

}  // namespace

const Element* Element::child(std::string_view name, std::string_view xmlns) const {
  for (const auto& node : nodes_) {
    const auto* element = std::get_if<Element>(&node);
    if (element != nullptr && matches(*element, name, xmlns)) return element;
  }
  return nullptr;
}

Element* Element::child(std::string_view name, std::string_view xmlns) {
  return const_cast<Element*>(std::as_const(*this).child(name, xmlns));
}

std::vector<const Element*> Element::children(std::string_view name, std::string_view xmlns) const {
  std::vector<const Element*> found;
  for (const auto& node : nodes_) {
    const auto* element = std::get_if<Element>(&node);
    if (element != nullptr && matches(*element, name, xmlns)) found.push_back(element);
  }
  return found;
}

const Element* Element::first_child() const { return child({}, {}); }

std::string Element::text() const {
  std::string text;
  for (const auto& node : nodes_) {
    if (const auto* run = std::get_if<std::string>(&node)) text += *run;
  }
  return text;
}

std::string Element::child_text(std::string_view name, std::string_view xmlns) const {
  const Element* found = child(name, xmlns);
  return found != nullptr ? found->text() : std::string();
}

// ---------------------------------------------------------------------------
// Serialization

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the well-formed UTF-8 sequence at s[i] encoding an XML 1.0 Char,
// or 0 (overlong forms, surrogates, U+FFFE/U+FFFF and bytes past U+10FFFF).
std::size_t xml_char_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto continuation = [](unsigned b) { return b >= 0x80 && b <= 0xBF; };
  const unsigned lead = byte(0);
  if (lead < 0x80) return (lead >= 0x20 || lead == '\t' || lead == '\n' || lead == '\r') ? 1 : 0;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(byte(1)) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned b1 = byte(1);
    const unsigned lo = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned hi = lead == 0xED ? 0x9F : 0xBF;
    if (b1 < lo || b1 > hi || !continuation(byte(2))) return 0;
    if (lead == 0xEF && b1 == 0xBF && byte(2) >= 0xBE) return 0;  // U+FFFE, U+FFFF
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned b1 = byte(1);
    const unsigned lo = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = lead == 0xF4 ? 0x8F : 0xBF;
    if (b1 < lo || b1 > hi || !continuation(byte(2)) || !continuation(byte(3))) return 0;
    return 4;
  }
  return 0;
}

// Escapes markup characters. In attribute values, tab and newline become
// character references so that attribute-value normalization keeps them; a
// carriage return always does, since a parser turns a literal one into a
// newline. Bytes that cannot appear in XML 1.0 (control characters, broken
// UTF-8) become U+FFFD so that the output is always well-formed.
void append_escaped(std::string& out, std::string_view s, bool attribute) {
  std::size_t run = 0;  // start of the pending verbatim bytes
  std::size_t i = 0;
  auto replace = [&](std::size_t length, std::string_view with) {
    out.append(s, run, i - run);
    out += with;
    i += length;
    run = i;
  };
  while (i < s.size()) {
    const char c = s[i];
    switch (c) {
      case '&':
        replace(1, "&amp;");
        continue;
      case '<':
        replace(1, "&lt;");
        continue;
      case '>':
        replace(1, "&gt;");
        continue;
      case '\r':
        replace(1, "&#13;");
        continue;
      case '"':
        if (attribute) {
          replace(1, "&quot;");
          continue;
        }
        break;
      case '\'':
        if (attribute) {
          replace(1, "&apos;");
          continue;
        }
        break;
      case '\t':
        if (attribute) {
          replace(1, "&#9;");
          continue;
        }
        break;
      case '\n':
        if (attribute) {
          replace(1, "&#10;");
          continue;
        }
        break;
      default:
        break;
    }
    const std::size_t length = xml_char_length(s, i);
    if (length == 0) {
      replace(1, kReplacementChar);
    } else {
      i += length;
    }
  }
  out.append(s, run, s.size() - run);
}

bool is_namespace_declaration(std::string_view name) {
  return name == "xmlns" || name.starts_with("xmlns:");
}

bool has_content(const Element& element) {
  return std::any_of(element.nodes().begin(), element.nodes().end(), [](const Element::Node& n) {
    const auto* text = std::get_if<std::string>(&n);
    return text == nullptr || !text->empty();
  });
}

void write_element(std::string& out, const Element& element, std::string_view parent_ns) {
  out += '<';
  out += element.name();
  if (element.xmlns() != parent_ns) {
    out += " xmlns='";
    append_escaped(out, element.xmlns(), true);
    out += '\'';
  }
  for (const auto& [name, value] : element.attrs()) {
    if (is_namespace_declaration(name)) continue;  // the namespace comes from xmlns()
    out += ' ';
    out += name;
    out += "='";
    append_escaped(out, value, true);
    out += '\'';
  }
  if (!has_content(element)) {
    out += "/>";
    return;
  }
  out += '>';
  for (const auto& node : element.nodes()) {
    if (const auto* child = std::get_if<Element>(&node)) {
      write_element(out, *child, element.xmlns());
    } else {
      append_escaped(out, std::get<std::string>(node), false);
    }
  }
  out += "</";
  out += element.name();
  out += '>';
}

}  // namespace

std::string Element::to_string(std::string_view parent_ns) const {
  std::string out;
  write_element(out, *this, parent_ns);
  return out;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text, true);
  return out;
}

// ---------------------------------------------------------------------------
// Parsing

namespace {

// Expat reports a namespaced name as "uri<kSeparator>local". U+0001 cannot
// occur in XML 1.0 text, so it cannot be part of a namespace URI.
constexpr XML_Char kSeparator = '\x01';
constexpr std::string_view kXmlNamespace = "http://www.w3.org/XML/1998/namespace";
// Bytes handed to expat per call; bounds the work done between limit checks.
constexpr std::size_t kMaxSlice = std::size_t{64} * 1024;

struct ExpandedName {
  std::string_view uri;
  std::string_view local;
};

ExpandedName split_name(const XML_Char* name) {
  std::string_view full(name);
  const auto pos = full.find(kSeparator);
  if (pos == std::string_view::npos) return {{}, full};
  return {full.substr(0, pos), full.substr(pos + 1)};
}

// Expat 2.6 defers re-parsing an incomplete token until enough new bytes
// arrive (CVE-2023-52425); on a stream that can hold back a complete stanza
// until the peer sends more, which it won't. Debian backports the function
// without bumping the version, so detect it by overload resolution (found by
// argument-dependent lookup on XML_Parser) instead of by version number.
template <class Parser>
auto disable_reparse_deferral(Parser parser, int)
    -> decltype(XML_SetReparseDeferralEnabled(parser, XML_FALSE), void()) {
  XML_SetReparseDeferralEnabled(parser, XML_FALSE);
}
template <class Parser>
void disable_reparse_deferral(Parser /*parser*/, long /*unused*/) {}

// Builds Elements from expat events. In stream mode the document element must
// be <stream:stream>, and each of its children is delivered as a stanza; in
// document mode the document element itself is the result.
class TreeBuilder {
 public:
  enum class Mode { stream, document };

  TreeBuilder(Mode mode, std::string default_ns, ParserLimits limits,
              StreamParser::Callbacks callbacks = {})
      : mode_(mode),
        stanza_level_(mode == Mode::stream ? 1 : 0),
        default_ns_(std::move(default_ns)),
        limits_(limits),
        callbacks_(std::move(callbacks)) {
    create_parser();
  }
  ~TreeBuilder() { XML_ParserFree(parser_); }
  TreeBuilder(const TreeBuilder&) = delete;
  TreeBuilder& operator=(const TreeBuilder&) = delete;

  Result<void> parse(std::string_view bytes, bool is_final);

  // Immediately when idle; deferred to the end of parse() when called from a
  // callback, since expat cannot be reset while it is parsing.
  void reset();

  std::optional<Element>& document() { return document_; }

 private:
  void create_parser();
  void run(std::string_view bytes, bool is_final);
  bool call_expat(const char* data, std::size_t size, bool is_final);
  void fail_with(std::string message);
  void stop();
  std::uint64_t event_end() const;
  std::string too_large_message() const;

  void on_start(const XML_Char* name, const XML_Char** atts);
  void on_end();
  void on_text(const XML_Char* text, int length);
  void on_namespace_decl(const XML_Char* prefix);
  std::optional<std::vector<std::pair<std::string, std::string>>> convert_attributes(
      std::string_view element, const XML_Char** atts);

  template <class F>
  static void guarded(void* user_data, F&& handler) {
    auto* self = static_cast<TreeBuilder*>(user_data);
    if (self->stopped_) return;  // expat may deliver a few events after XML_StopParser
    try {
      handler(*self);
    } catch (...) {
      self->exception_ = std::current_exception();
      self->stop();
    }
  }

  const Mode mode_;
  const std::size_t stanza_level_;  // open elements around a stanza
  const std::string default_ns_;
  const ParserLimits limits_;
  StreamParser::Callbacks callbacks_;
  XML_Parser parser_ = nullptr;

  std::size_t open_ = 0;                      // open elements, the stream root included
  std::vector<Element> stack_;                // open elements of the current stanza
  std::vector<bool> default_ns_declared_;     // per open element: some xmlns='...' in scope
  bool pending_default_declaration_ = false;  // xmlns='...' seen for the next start tag
  std::uint64_t fed_ = 0;                     // bytes given to this expat parser
  std::uint64_t unit_start_ = 0;              // where the stanza being received begins
  std::size_t nodes_ = 0;                     // in the current stanza
  std::size_t text_bytes_ = 0;                // in the current stanza
  std::optional<Element> document_;

  bool in_parse_ = false;  // inside XML_Parse
  bool in_feed_ = false;   // inside parse()
  bool stopped_ = false;
  bool reset_requested_ = false;
  std::optional<Error> error_;
  std::exception_ptr exception_;
};

}  // namespace

void TreeBuilder::create_parser() {
  if (parser_ != nullptr) XML_ParserFree(parser_);
  // RFC 6120 §11.6: UTF-8 only, whatever the XML declaration claims.
  parser_ = XML_ParserCreateNS("UTF-8", kSeparator);
  if (parser_ == nullptr) throw std::bad_alloc();
  XML_SetUserData(parser_, this);
  disable_reparse_deferral(parser_, 0);
  XML_SetParamEntityParsing(parser_, XML_PARAM_ENTITY_PARSING_NEVER);

  XML_SetElementHandler(
      parser_,
      [](void* ud, const XML_Char* name, const XML_Char** atts) {
        guarded(ud, [&](TreeBuilder& self) { self.on_start(name, atts); });
      },
      [](void* ud, const XML_Char* /*name*/) {
        guarded(ud, [&](TreeBuilder& self) { self.on_end(); });
      });
  XML_SetCharacterDataHandler(parser_, [](void* ud, const XML_Char* text, int length) {
    guarded(ud, [&](TreeBuilder& self) { self.on_text(text, length); });
  });
  XML_SetStartNamespaceDeclHandler(
      parser_, [](void* ud, const XML_Char* prefix, const XML_Char* /*uri*/) {
        guarded(ud, [&](TreeBuilder& self) { self.on_namespace_decl(prefix); });
      });

  // RFC 6120 §11.1: no comments, processing instructions, DTDs or entities.
  XML_SetCommentHandler(parser_, [](void* ud, const XML_Char* /*data*/) {
    guarded(ud, [](TreeBuilder& self) { self.fail_with("comments are not allowed in XMPP"); });
  });
  XML_SetProcessingInstructionHandler(
      parser_, [](void* ud, const XML_Char* /*target*/, const XML_Char* /*data*/) {
        guarded(ud, [](TreeBuilder& self) {
          self.fail_with("processing instructions are not allowed in XMPP");
        });
      });
  XML_SetStartDoctypeDeclHandler(
      parser_, [](void* ud, const XML_Char*, const XML_Char*, const XML_Char*, int) {
        guarded(ud, [](TreeBuilder& self) {
          self.fail_with("document type declarations are not allowed in XMPP");
        });
      });
  XML_SetEntityDeclHandler(parser_,
                           [](void* ud, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                              const XML_Char*, const XML_Char*, const XML_Char*) {
                             guarded(ud, [](TreeBuilder& self) {
                               self.fail_with("entity declarations are not allowed in XMPP");
                             });
                           });
  XML_SetSkippedEntityHandler(parser_, [](void* ud, const XML_Char*, int) {
    guarded(ud, [](TreeBuilder& self) { self.fail_with("undefined entity reference"); });
  });
  // No external entity handler: expat then never loads anything.

  open_ = 0;
  stack_.clear();
  default_ns_declared_.clear();
  pending_default_declaration_ = false;
  fed_ = 0;
  unit_start_ = 0;
  nodes_ = 0;
  text_bytes_ = 0;
  document_.reset();
  stopped_ = false;
  reset_requested_ = false;
  error_.reset();
}

void TreeBuilder::reset() {
  if (in_feed_) {
    reset_requested_ = true;
    stop();
  } else {
    create_parser();
  }
}

void TreeBuilder::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (in_parse_) XML_StopParser(parser_, XML_FALSE);
}

void TreeBuilder::fail_with(std::string message) {
  if (!error_) error_ = Error{Errc::protocol, std::move(message), {}};
  stop();
}

std::uint64_t TreeBuilder::event_end() const {
  const XML_Index index = XML_GetCurrentByteIndex(parser_);
  const int count = XML_GetCurrentByteCount(parser_);
  if (index < 0) return unit_start_;
  return static_cast<std::uint64_t>(index) + static_cast<std::uint64_t>(std::max(count, 0));
}

std::string TreeBuilder::too_large_message() const {
  const std::string limit = std::to_string(limits_.max_stanza_bytes);
  if (mode_ == Mode::stream && open_ == 0) {
    return "stream header too large (over " + limit + " bytes)";
  }
  return "stanza too large (over " + limit + " bytes)";
}

Result<void> TreeBuilder::parse(std::string_view bytes, bool is_final) {
  if (in_feed_) {
    return fail(Errc::invalid_argument, "the XML parser was fed from one of its own callbacks");
  }
  if (error_) return Unexpected(*error_);
  {
    struct InFeed {
      bool& flag;
      explicit InFeed(bool& f) : flag(f) { flag = true; }
      ~InFeed() { flag = false; }
    } in_feed(in_feed_);
    run(bytes, is_final);
  }
  if (reset_requested_) create_parser();  // drops whatever followed in this buffer
  if (exception_) {
    if (!reset_requested_ && !error_) {
      error_ = Error{Errc::protocol, "the XML stream was abandoned by a failing callback", {}};
    }
    std::rethrow_exception(std::exchange(exception_, nullptr));
  }
  if (error_) return Unexpected(*error_);
  return {};
}

void TreeBuilder::run(std::string_view bytes, bool is_final) {
  const std::size_t limit = limits_.max_stanza_bytes;
  while (!bytes.empty() && !stopped_) {
    // Never hand expat more than one byte past the limit of the unit being
    // received, so that an oversized stanza is refused before it is buffered.
    const std::uint64_t pending = fed_ - unit_start_;
    if (pending > limit) return fail_with(too_large_message());
    const std::uint64_t room = static_cast<std::uint64_t>(limit) - pending + 1;
    const std::size_t size = static_cast<std::size_t>(
        std::min<std::uint64_t>({bytes.size(), kMaxSlice, room == 0 ? kMaxSlice : room}));
    const char* data = bytes.data();
    bytes.remove_prefix(size);
    fed_ += size;
    if (!call_expat(data, size, false)) return;
    if (fed_ - unit_start_ > limit) return fail_with(too_large_message());
  }
  if (is_final && !stopped_) call_expat("", 0, true);
}

bool TreeBuilder::call_expat(const char* data, std::size_t size, bool is_final) {
  in_parse_ = true;
  const XML_Status status =
      XML_Parse(parser_, data, static_cast<int>(size), is_final ? XML_TRUE : XML_FALSE);
  in_parse_ = false;
  if (status == XML_STATUS_OK && !stopped_) return true;
  if (!stopped_) {
    const XML_Error code = XML_GetErrorCode(parser_);
    fail_with("not well-formed (line " + std::to_string(XML_GetCurrentLineNumber(parser_)) +
              ", column " + std::to_string(XML_GetCurrentColumnNumber(parser_) + 1) +
              "): " + XML_ErrorString(code));
  }
  return false;
}

void TreeBuilder::on_namespace_decl(const XML_Char* prefix) {
  if (prefix == nullptr) pending_default_declaration_ = true;
}

std::optional<std::vector<std::pair<std::string, std::string>>> TreeBuilder::convert_attributes(
    std::string_view element, const XML_Char** atts) {
  std::size_t count = 0;
  while (atts[2 * count] != nullptr) ++count;
  if (count > limits_.max_attributes) {
    fail_with("too many attributes on <" + std::string(element) + "> (over " +
              std::to_string(limits_.max_attributes) + ")");
    return std::nullopt;
  }
  std::vector<std::pair<std::string, std::string>> attrs;
  attrs.reserve(count);
  // Unprefixed and xml: attributes first, as they are; attributes in other
  // namespaces are kept by local name unless that name is already taken.
  for (std::size_t i = 0; i < count; ++i) {
    const auto [uri, local] = split_name(atts[2 * i]);
    if (uri.empty()) {
      attrs.emplace_back(std::string(local), atts[2 * i + 1]);
    } else if (uri == kXmlNamespace) {
      attrs.emplace_back("xml:" + std::string(local), atts[2 * i + 1]);
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    const auto [uri, local] = split_name(atts[2 * i]);
    if (uri.empty() || uri == kXmlNamespace || local == "xmlns") continue;
    const bool taken = std::any_of(attrs.begin(), attrs.end(),
                                   [&, local = local](const auto& a) { return a.first == local; });
    if (!taken) attrs.emplace_back(std::string(local), atts[2 * i + 1]);
  }
  return attrs;
}

void TreeBuilder::on_start(const XML_Char* name, const XML_Char** atts) {
  const auto [uri, local] = split_name(name);
  const bool declared = pending_default_declaration_ ||
                        (!default_ns_declared_.empty() && default_ns_declared_.back());
  pending_default_declaration_ = false;
  if (uri == kXmlNamespace) {
    return fail_with("element <" + std::string(local) + "> is in the reserved xml namespace");
  }
  std::string xmlns = uri.empty() && !declared ? default_ns_ : std::string(uri);

  if (open_ < stanza_level_) {
    if (local != "stream" || uri != ns::stream) {
      return fail_with("expected <stream:stream>, got <" + std::string(local) + ">");
    }
    auto attrs = convert_attributes(local, atts);
    if (!attrs) return;
    Element header(std::string(local), std::move(xmlns));
    for (auto& [key, value] : *attrs) header.set_attr(std::move(key), std::move(value));
    if (event_end() - unit_start_ > limits_.max_stanza_bytes) {
      return fail_with(too_large_message());
    }
    ++open_;
    default_ns_declared_.push_back(declared);
    unit_start_ = event_end();
    if (callbacks_.on_stream_open) callbacks_.on_stream_open(header);
    return;
  }

  const std::size_t depth = open_ - stanza_level_ + 1;
  if (depth == 1) {
    unit_start_ =
        static_cast<std::uint64_t>(std::max<XML_Index>(XML_GetCurrentByteIndex(parser_), 0));
    nodes_ = 0;
    text_bytes_ = 0;
  }
  if (depth > limits_.max_depth) {
    return fail_with("stanza nested too deeply (over " + std::to_string(limits_.max_depth) +
                     " levels)");
  }
  if (++nodes_ > limits_.max_children) {
    return fail_with("stanza has too many nodes (over " + std::to_string(limits_.max_children) +
                     ")");
  }
  auto attrs = convert_attributes(local, atts);
  if (!attrs) return;
  Element element(std::string(local), std::move(xmlns));
  for (auto& [key, value] : *attrs) element.set_attr(std::move(key), std::move(value));
  stack_.push_back(std::move(element));
  ++open_;
  default_ns_declared_.push_back(declared);
}

void TreeBuilder::on_end() {
  if (open_ == 0) return;
  --open_;
  default_ns_declared_.pop_back();
  if (open_ < stanza_level_) {
    unit_start_ = event_end();
    if (callbacks_.on_stream_close) callbacks_.on_stream_close();
    return;
  }
  Element element = std::move(stack_.back());
  stack_.pop_back();
  if (!stack_.empty()) {
    stack_.back().add_child(std::move(element));
    return;
  }
  if (mode_ == Mode::document) {
    document_ = std::move(element);
    return;
  }
  // parse() feeds at most one byte past the limit: the last one may have
  // completed a stanza that is just too large.
  if (event_end() - unit_start_ > limits_.max_stanza_bytes) return fail_with(too_large_message());
  unit_start_ = event_end();
  if (callbacks_.on_stanza) callbacks_.on_stanza(std::move(element));
}

void TreeBuilder::on_text(const XML_Char* text, int length) {
  if (stack_.empty()) {
    // Whitespace keepalives between stanzas (RFC 6120 §4.6.1) are dropped.
    if (mode_ == Mode::stream && open_ == stanza_level_) unit_start_ = event_end();
    return;
  }
  const auto size = static_cast<std::size_t>(length);
  text_bytes_ += size;
  if (text_bytes_ > limits_.max_stanza_bytes) return fail_with(too_large_message());
  Element& parent = stack_.back();
  const bool new_node =
      parent.nodes().empty() || !std::holds_alternative<std::string>(parent.nodes().back());
  if (new_node && ++nodes_ > limits_.max_children) {
    return fail_with("stanza has too many nodes (over " + std::to_string(limits_.max_children) +
                     ")");
  }
  parent.add_text(std::string(text, size));
}

// ---------------------------------------------------------------------------
// StreamParser

struct StreamParser::Impl {
  Impl(Callbacks callbacks, ParserLimits limits)
      : builder(TreeBuilder::Mode::stream, {}, limits, std::move(callbacks)) {}
  TreeBuilder builder;
};

StreamParser::StreamParser(Callbacks callbacks, ParserLimits limits)
    : impl_(std::make_unique<Impl>(std::move(callbacks), limits)) {}

StreamParser::~StreamParser() = default;

Result<void> StreamParser::feed(std::string_view bytes) {
  return impl_->builder.parse(bytes, false);
}

void StreamParser::reset() { impl_->builder.reset(); }

Result<Element> parse_element(std::string_view xml, std::string_view default_ns,
                              ParserLimits limits) {
  if (xml.size() > limits.max_stanza_bytes) {
    return fail(Errc::protocol,
                "element too large (over " + std::to_string(limits.max_stanza_bytes) + " bytes)");
  }
  TreeBuilder builder(TreeBuilder::Mode::document, std::string(default_ns), limits);
  if (auto parsed = builder.parse(xml, true); !parsed) return Unexpected(parsed.error());
  if (!builder.document()) return fail(Errc::protocol, "no element found");
  return std::move(*builder.document());
}

}  // namespace sotto::xmpp
