#include "sotto/sip/wire.h"

#include <array>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>

#include "sotto/base/base.h"

namespace sotto::sip::wire {
namespace {

constexpr std::string_view kLog = "sip.wire";
constexpr std::size_t kMaxLine = 8192;
// libosip2 appends list headers one by one walking its lists: keep the
// number of header lines and list values small enough for bounded work.
constexpr std::size_t kMaxHeaders = 256;
constexpr std::size_t kMaxCommas = 512;
constexpr int64_t kMaxCSeq = 2147483647;  // RFC 3261 §8.1.1.5: less than 2^31

// --- libosip2's trace output, into our log (rate-limited).

void osip_trace_to_log(const char* /*file*/, int /*line*/, osip_trace_level_t /*level*/,
                       const char* format, va_list arguments) {
  if (!log::enabled(log::Level::debug) || format == nullptr) return;
  static std::mutex mutex;
  static Clock::time_point window_start{};
  static int in_window = 0;
  static int suppressed = 0;
  constexpr int kPerSecond = 20;
  {
    const std::lock_guard lock(mutex);
    const auto now = Clock::now();
    if (now - window_start >= std::chrono::seconds(1)) {
      if (suppressed > 0) {
        log::debug(kLog, "libosip2: " + std::to_string(suppressed) + " messages suppressed");
      }
      window_start = now;
      in_window = 0;
      suppressed = 0;
    }
    if (in_window >= kPerSecond) {
      ++suppressed;
      return;
    }
    ++in_window;
  }
  char buffer[512];
  va_list copy;
  va_copy(copy, arguments);
  const int written = std::vsnprintf(buffer, sizeof buffer, format, copy);
  va_end(copy);
  if (written < 0) return;
  std::string_view text(buffer);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  log::debug(kLog, "libosip2: " + std::string(text));
}

// --- Text helpers.

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

// RFC 3261 §25.1 token characters.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

// A number of at most 9 digits (so it fits), or nullopt.
std::optional<int64_t> small_number(std::string_view text) {
  text = trim(text);
  if (!all_digits(text) || text.size() > 10) return std::nullopt;
  int64_t value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value;
}

// RFC 3261 §7.3.3 compact forms, to the long names we check.
std::string canonical_name(std::string_view name) {
  if (name.size() == 1) {
    switch (ascii_lower(name[0])) {
      case 'v':
        return "via";
      case 'f':
        return "from";
      case 't':
        return "to";
      case 'i':
        return "call-id";
      case 'l':
        return "content-length";
      case 'm':
        return "contact";
      case 'c':
        return "content-type";
      default:
        break;
    }
  }
  return ascii_lower(std::string(name));
}

// --- A scan of the raw header block, before libosip2 sees it.

struct RawHeader {
  std::string name;   // canonical, lowercase
  std::string value;  // trimmed, folded lines joined with a space
};

struct RawHead {
  std::string_view start_line;
  std::vector<RawHeader> headers;
  std::size_t start = 0;  // offset of the start line (after leading CRLFs)
  std::size_t body = 0;   // offset of the body (after the blank line)
  bool complete = false;  // the blank line was found
  int error_status = 0;   // 400 / 413 when the block is malformed
  std::string error;

  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& header : headers) n += header.name == name ? 1 : 0;
    return n;
  }
  const RawHeader* find(std::string_view name) const {
    for (const auto& header : headers) {
      if (header.name == name) return &header;
    }
    return nullptr;
  }
};

void set_error(RawHead& head, int status, std::string reason) {
  if (head.error_status != 0) return;
  head.error_status = status;
  head.error = std::move(reason);
}

// Reads lines up to the first empty one. Lines end in LF or CRLF; a CR
// elsewhere, NUL and other control characters (not HTAB) are errors, as are
// lines over kMaxLine and header lines without a colon.
RawHead scan_head(std::string_view bytes) {
  RawHead head;
  std::size_t pos = 0;
  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  while (pos < bytes.size() && (bytes[pos] == '\r' || bytes[pos] == '\n')) {
    if (bytes[pos] == '\r' && (pos + 1 >= bytes.size() || bytes[pos + 1] != '\n')) break;
    pos += bytes[pos] == '\r' ? 2 : 1;
  }
  head.start = pos;
  bool first = true;
  std::size_t commas = 0;
  while (pos < bytes.size()) {
    const std::size_t newline = bytes.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? bytes.size() : newline;
    std::string_view line = bytes.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (newline == std::string_view::npos) {
      // No line end: the header block never ends.
      if (line.size() > kMaxLine) set_error(head, 413, "Header line too long");
      set_error(head, 400, "Incomplete header block");
      return head;
    }
    pos = newline + 1;
    if (line.size() > kMaxLine) {
      set_error(head, 413, "Header line too long");
      continue;
    }
    if (line.empty()) {
      if (first) continue;  // only for a CR alone before LF, handled as empty
      head.complete = true;
      head.body = pos;
      return head;
    }
    bool in_quotes = false;
    for (char c : line) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7F) {
        set_error(head, 400, "Control character in header");
      }
      if (c == '"') in_quotes = !in_quotes;
      if (c == ',' && !in_quotes) ++commas;
    }
    if (first) {
      head.start_line = line;
      first = false;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (head.headers.empty()) {
        set_error(head, 400, "Bad header folding");
      } else if (head.headers.back().value.size() < kMaxLine) {
        auto& value = head.headers.back().value;
        value += ' ';
        value += trim(line);
      } else {
        set_error(head, 413, "Header line too long");
      }
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      set_error(head, 400, "Malformed header line");
      continue;
    }
    const std::string_view name = trim(line.substr(0, colon));
    if (!is_token(name)) {
      set_error(head, 400, "Malformed header name");
      continue;
    }
    if (head.headers.size() >= kMaxHeaders) {
      set_error(head, 400, "Too many headers");
      continue;
    }
    head.headers.push_back({canonical_name(name), std::string(trim(line.substr(colon + 1)))});
  }
  if (commas > kMaxCommas) set_error(head, 400, "Too many header values");
  if (!head.complete) set_error(head, 400, "Incomplete header block");
  return head;
}

bool is_response_line(std::string_view line) { return istarts_with(line, "SIP/"); }

// "SIP/" 1*DIGIT "." 1*DIGIT
bool is_sip_version(std::string_view text) {
  if (!istarts_with(text, "SIP/")) return false;
  text.remove_prefix(4);
  const std::size_t dot = text.find('.');
  return dot != std::string_view::npos && all_digits(text.substr(0, dot)) &&
         all_digits(text.substr(dot + 1));
}

bool is_sip_2_0(std::string_view text) { return iequals(text, "SIP/2.0"); }

// The method of a request line, or "" when it is not one.
std::string_view request_method(std::string_view line) {
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return {};
  const std::string_view method = line.substr(0, space);
  return is_token(method) ? method : std::string_view{};
}

// Checks the start line: -1 when fine, else the status to answer with
// (0: drop) and `reason` set.
int check_start_line(std::string_view line, std::string& reason) {
  if (is_response_line(line)) {
    // SIP/2.0 SP 3DIGIT SP Reason-Phrase
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || !is_sip_2_0(line.substr(0, space))) {
      reason = "Bad status line version";
      return 0;
    }
    const std::string_view rest = line.substr(space + 1);
    if (rest.size() < 4 || !all_digits(rest.substr(0, 3)) || rest[3] != ' ' || rest[0] == '0' ||
        rest[0] > '6') {
      reason = "Bad status line";
      return 0;
    }
    return -1;  // a good status line
  }
  const std::size_t first = line.find(' ');
  const std::size_t second =
      first == std::string_view::npos ? std::string_view::npos : line.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos ||
      line.find(' ', second + 1) != std::string_view::npos) {
    reason = "Bad request line";
    return 400;
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view uri = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!is_token(method) || uri.empty() || uri.find(':') == std::string_view::npos) {
    reason = "Bad request line";
    return 400;
  }
  if (!is_sip_2_0(version)) {
    if (is_sip_version(version)) {
      reason = "Version Not Supported";
      return 505;
    }
    reason = "Bad request line";
    return 400;
  }
  return -1;  // a good request line
}

// Whether error_response() can answer this head: a request (not ACK) with
// Via, From, To, Call-ID and CSeq lines.
bool answerable(const RawHead& head) {
  if (head.start_line.empty() || is_response_line(head.start_line)) return false;
  const std::string_view method = request_method(head.start_line);
  if (method.empty() || method == "ACK") return false;
  return head.count("via") >= 1 && head.count("from") == 1 && head.count("to") == 1 &&
         head.count("call-id") == 1 && head.count("cseq") == 1;
}

tl::unexpected<ParseError> refuse(const RawHead& head, int status, std::string reason) {
  if (status != 0 && !answerable(head)) status = 0;
  return tl::unexpected(ParseError{status, std::move(reason)});
}

bool header_present_once(const RawHead& head, std::string_view name, std::string& reason,
                         std::string_view display) {
  const std::size_t n = head.count(name);
  if (n == 0) {
    reason = "Missing " + std::string(display);
    return false;
  }
  if (n > 1 && name != "via") {
    reason = "Duplicate " + std::string(display);
    return false;
  }
  return true;
}

// Checks libosip2's result for what it does not enforce itself.
std::string check_parsed(const osip_message_t& message, bool request) {
  if (request) {
    if (message.sip_method == nullptr || message.req_uri == nullptr ||
        message.req_uri->scheme == nullptr) {
      return "Bad Request-URI";
    }
  } else if (message.status_code < 100 || message.status_code > 699) {
    return "Bad status code";
  }
  if (message.sip_version == nullptr || !is_sip_2_0(message.sip_version)) return "Bad version";
  osip_via_t* via = nullptr;
  if (osip_message_get_via(&message, 0, &via) < 0 || via == nullptr) return "Missing Via";
  if (via->version == nullptr || std::string_view(via->version) != "2.0" ||
      via->protocol == nullptr || !is_token(via->protocol) || via->host == nullptr ||
      *via->host == '\0') {
    return "Bad Via";
  }
  if (via->port != nullptr) {
    const auto port = small_number(via->port);
    if (!port || *port > 65535) return "Bad Via port";
  }
  if (message.from == nullptr || message.from->url == nullptr) return "Bad From";
  if (message.to == nullptr || message.to->url == nullptr) return "Bad To";
  if (message.call_id == nullptr || message.call_id->number == nullptr ||
      *message.call_id->number == '\0') {
    return "Bad Call-ID";
  }
  if (message.cseq == nullptr || message.cseq->number == nullptr ||
      message.cseq->method == nullptr) {
    return "Bad CSeq";
  }
  const auto number = small_number(message.cseq->number);
  if (!number || *number > kMaxCSeq || !is_token(message.cseq->method)) return "Bad CSeq";
  if (request && std::string_view(message.cseq->method) != message.sip_method) {
    return "CSeq method does not match the request";
  }
  return {};
}

std::string sanitize_reason(std::string_view reason) {
  std::string out;
  for (char c : reason.substr(0, 128)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7F) ? ' ' : c;
  }
  return out;
}

bool has_tag(std::string_view to_value) {
  // The tag is a header parameter: after the closing '>' when there is one.
  const std::size_t close = to_value.find('>');
  std::string_view params = close == std::string_view::npos ? to_value : to_value.substr(close);
  std::size_t semicolon = params.find(';');
  while (semicolon != std::string_view::npos) {
    params.remove_prefix(semicolon + 1);
    semicolon = params.find(';');
    const std::string_view param = params.substr(0, semicolon);
    if (iequals(trim(param.substr(0, param.find('='))), "tag")) return true;
  }
  return false;
}

}  // namespace

void MessageDeleter::operator()(osip_message_t* message) const {
  if (message != nullptr) osip_message_free(message);
}

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    osip_trace_initialize_func(END_TRACE_LEVEL, &osip_trace_to_log);
    parser_init();
  });
}

tl::expected<MessagePtr, ParseError> parse(std::string_view bytes, bool datagram) {
  (void)datagram;  // both: Content-Length above the bytes is 400, below truncates
  init();
  if (bytes.size() > kMaxMessage) {
    RawHead head = scan_head(bytes.substr(0, kMaxMessage));
    return refuse(head, 413, "Message Too Large");
  }
  RawHead head = scan_head(bytes);
  if (head.start_line.empty()) return refuse(head, 0, "Empty message");
  std::string reason;
  const int start_status = check_start_line(head.start_line, reason);
  const bool request = !is_response_line(head.start_line);
  if (start_status >= 0) {
    if (!request) return tl::unexpected(ParseError{0, reason});
    return refuse(head, start_status, reason);
  }
  if (head.error_status != 0) return refuse(head, head.error_status, head.error);

  if (!header_present_once(head, "via", reason, "Via") ||
      !header_present_once(head, "from", reason, "From") ||
      !header_present_once(head, "to", reason, "To") ||
      !header_present_once(head, "call-id", reason, "Call-ID") ||
      !header_present_once(head, "cseq", reason, "CSeq")) {
    return refuse(head, 400, reason);
  }
  if (head.count("max-forwards") > 1) return refuse(head, 400, "Duplicate Max-Forwards");
  if (const auto* max_forwards = head.find("max-forwards")) {
    if (!small_number(max_forwards->value)) return refuse(head, 400, "Bad Max-Forwards");
  }
  const std::size_t available = bytes.size() - head.body;
  std::size_t length = available;
  if (head.count("content-length") > 1) return refuse(head, 400, "Duplicate Content-Length");
  if (const auto* content_length = head.find("content-length")) {
    const auto value = small_number(content_length->value);
    if (!value) return refuse(head, 400, "Bad Content-Length");
    // RFC 3261 §18.3: larger than what arrived is an error; shorter truncates.
    if (static_cast<uint64_t>(*value) > available) {
      return refuse(head, 400, "Content-Length larger than the message");
    }
    length = static_cast<std::size_t>(*value);
  }

  osip_message_t* raw = nullptr;
  if (osip_message_init(&raw) != OSIP_SUCCESS || raw == nullptr) {
    return tl::unexpected(ParseError{0, "Out of memory"});
  }
  MessagePtr message(raw);
  const std::string_view text = bytes.substr(head.start, head.body - head.start + length);
  if (osip_message_parse(message.get(), text.data(), text.size()) != OSIP_SUCCESS) {
    return refuse(head, 400, "Malformed message");
  }
  if (request != MSG_IS_REQUEST(message.get())) return refuse(head, 400, "Malformed message");
  if (std::string problem = check_parsed(*message, request); !problem.empty()) {
    return refuse(head, 400, std::move(problem));
  }
  return message;
}

Frame next_frame(std::string_view buffer) {
  Frame frame;
  if (buffer.empty()) return frame;
  if (buffer[0] == '\r' || buffer[0] == '\n') {
    // RFC 5626 §3.5.1: CRLFCRLF is a ping, CRLF its pong.
    if (buffer.starts_with("\r\n\r\n")) {
      frame.kind = Frame::Kind::ping;
      frame.size = 4;
    } else if (buffer == "\r" || buffer == "\r\n\r") {
      // wait for the rest
    } else if (buffer.starts_with("\r\n")) {
      frame.kind = Frame::Kind::pong;
      frame.size = 2;
    } else {
      frame.kind = Frame::Kind::error;
      frame.error = "Stray line break on the stream";
    }
    return frame;
  }
  // Find the blank line ending the header block.
  std::size_t pos = 0;
  std::size_t body = std::string_view::npos;
  while (pos < buffer.size() && pos <= kMaxMessage) {
    const std::size_t newline = buffer.find('\n', pos);
    if (newline == std::string_view::npos) break;
    const std::size_t line_length = newline - pos;
    if (line_length == 0 || (line_length == 1 && buffer[pos] == '\r')) {
      body = newline + 1;
      break;
    }
    pos = newline + 1;
  }
  if (body == std::string_view::npos) {
    if (buffer.size() >= kMaxMessage) {
      frame.kind = Frame::Kind::error;
      frame.error = "Header block too large";
    }
    return frame;
  }
  if (body > kMaxMessage) {
    frame.kind = Frame::Kind::error;
    frame.error = "Header block too large";
    return frame;
  }
  const RawHead head = scan_head(buffer.substr(0, body));
  const std::size_t count = head.count("content-length");
  if (count != 1) {
    frame.kind = Frame::Kind::error;
    frame.error = count == 0 ? "Missing Content-Length on a stream" : "Duplicate Content-Length";
    return frame;
  }
  const auto length = small_number(head.find("content-length")->value);
  if (!length) {
    frame.kind = Frame::Kind::error;
    frame.error = "Bad Content-Length";
    return frame;
  }
  if (static_cast<uint64_t>(*length) + body > kMaxMessage) {
    frame.kind = Frame::Kind::error;
    frame.error = "Message too large";
    return frame;
  }
  const std::size_t total = body + static_cast<std::size_t>(*length);
  if (buffer.size() < total) return frame;
  frame.kind = Frame::Kind::message;
  frame.size = total;
  return frame;
}

std::string to_string(const osip_message_t& message) {
  // libosip2 keeps the parsed text and hands it back unless told the
  // structure changed: always rebuild from the structure.
  auto& mutable_message = const_cast<osip_message_t&>(message);
  osip_message_force_update(&mutable_message);
  char* text = nullptr;
  size_t length = 0;
  if (osip_message_to_str(&mutable_message, &text, &length) != OSIP_SUCCESS || text == nullptr) {
    return {};
  }
  std::string out(text, length);
  osip_free(text);
  return out;
}

MessagePtr make_response(const osip_message_t& request, int status, std::string_view reason,
                         std::string_view to_tag) {
  init();
  osip_message_t* raw = nullptr;
  if (osip_message_init(&raw) != OSIP_SUCCESS || raw == nullptr) return nullptr;
  MessagePtr response(raw);
  osip_message_set_version(response.get(), osip_strdup("SIP/2.0"));
  osip_message_set_status_code(response.get(), status);
  std::string phrase(reason);
  if (phrase.empty()) {
    const char* standard = osip_message_get_reason(status);
    phrase = standard != nullptr ? standard : "Unknown";
  }
  phrase = sanitize_reason(phrase);
  osip_message_set_reason_phrase(response.get(), osip_strdup(phrase.c_str()));

  if (osip_list_clone(&request.vias, &response->vias,
                      reinterpret_cast<int (*)(void*, void**)>(&osip_via_clone)) != OSIP_SUCCESS) {
    return nullptr;
  }
  if (request.from == nullptr || osip_from_clone(request.from, &response->from) != OSIP_SUCCESS ||
      request.to == nullptr || osip_to_clone(request.to, &response->to) != OSIP_SUCCESS ||
      request.call_id == nullptr ||
      osip_call_id_clone(request.call_id, &response->call_id) != OSIP_SUCCESS ||
      request.cseq == nullptr || osip_cseq_clone(request.cseq, &response->cseq) != OSIP_SUCCESS) {
    return nullptr;
  }
  if (!to_tag.empty()) {
    osip_generic_param_t* tag = nullptr;
    if (osip_generic_param_get_byname(&response->to->gen_params, const_cast<char*>("tag"), &tag) !=
            OSIP_SUCCESS ||
        tag == nullptr) {
      const std::string value(to_tag);
      osip_to_set_tag(response->to, osip_strdup(value.c_str()));
    }
  }
  osip_message_set_content_length(response.get(), "0");
  return response;
}

std::string error_response(std::string_view bytes, int status, std::string_view reason) {
  if (status < 300 || status > 699) return {};
  // Only the header block matters; a message over the limit is cut there.
  const std::string_view scanned = bytes.substr(0, kMaxMessage);
  // Lenient scan: the lines we copy must be sane, others may not be.
  std::vector<std::pair<std::string, std::string>> lines;  // canonical name, value
  std::size_t pos = 0;
  while (pos < scanned.size() && (scanned[pos] == '\r' || scanned[pos] == '\n')) ++pos;
  bool first = true;
  std::string_view start_line;
  while (pos < scanned.size()) {
    const std::size_t newline = scanned.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? scanned.size() : newline;
    std::string_view line = scanned.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (first) {
      start_line = line;
      first = false;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      // A folded continuation of a line we copy: give up on that header.
      if (!lines.empty()) lines.back().second.clear();
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    if (!is_token(name)) continue;
    std::string canonical = canonical_name(name);
    if (canonical != "via" && canonical != "from" && canonical != "to" && canonical != "call-id" &&
        canonical != "cseq") {
      continue;
    }
    const std::string_view value = trim(line.substr(colon + 1));
    bool sane = !value.empty() && value.size() <= kMaxLine;
    for (char c : value) {
      const auto byte = static_cast<unsigned char>(c);
      if ((byte < 0x20 && c != '\t') || byte == 0x7F) sane = false;
    }
    lines.emplace_back(std::move(canonical), sane ? std::string(value) : std::string());
    if (lines.size() > kMaxHeaders) return {};
  }
  if (start_line.empty() || is_response_line(start_line)) return {};
  const std::string_view method = request_method(start_line);
  if (method.empty() || method == "ACK") return {};  // RFC 3261 §17.2.1: never answer an ACK

  std::string vias;
  const std::string* from = nullptr;
  const std::string* to = nullptr;
  const std::string* call_id = nullptr;
  const std::string* cseq = nullptr;
  for (const auto& [name, value] : lines) {
    if (value.empty()) return {};
    const std::string** single = nullptr;
    if (name == "via") {
      vias += "Via: " + value + "\r\n";
      continue;
    }
    if (name == "from") single = &from;
    if (name == "to") single = &to;
    if (name == "call-id") single = &call_id;
    if (name == "cseq") single = &cseq;
    if (*single != nullptr) return {};  // duplicate
    *single = &value;
  }
  if (vias.empty() || from == nullptr || to == nullptr || call_id == nullptr || cseq == nullptr) {
    return {};
  }
  std::string phrase = sanitize_reason(reason);
  if (phrase.empty()) {
    const char* standard = osip_message_get_reason(status);
    phrase = standard != nullptr ? standard : "Error";
  }
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + phrase + "\r\n";
  out += vias;
  out += "From: " + *from + "\r\n";
  out += "To: " + *to;
  if (!has_tag(*to)) out += ";tag=" + random_id(10);
  out += "\r\n";
  out += "Call-ID: " + *call_id + "\r\n";
  out += "CSeq: " + *cseq + "\r\n";
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

std::string redact(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  bool redacting = false;
  while (pos < text.size()) {
    const std::size_t newline = text.find('\n', pos);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline + 1;
    const std::string_view line = text.substr(pos, end - pos);
    pos = end;
    if (redacting && !line.empty() && (line.front() == ' ' || line.front() == '\t')) {
      continue;  // a folded continuation of the secret
    }
    redacting = false;
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = trim(line.substr(0, colon));
      if (iequals(name, "Authorization") || iequals(name, "Proxy-Authorization")) {
        redacting = true;
        out += line.substr(0, colon + 1);
        out += " [redacted]";
        std::string_view ending = line.substr(colon + 1);
        if (ending.ends_with("\r\n")) {
          out += "\r\n";
        } else if (ending.ends_with("\n")) {
          out += "\n";
        }
        continue;
      }
    }
    out += line;
  }
  return out;
}

std::string call_id(const osip_message_t& message) {
  if (message.call_id == nullptr) return {};
  char* text = nullptr;
  if (osip_call_id_to_str(message.call_id, &text) != OSIP_SUCCESS || text == nullptr) return {};
  std::string out(text);
  osip_free(text);
  return out;
}

std::string cseq_method(const osip_message_t& message) {
  if (message.cseq == nullptr || message.cseq->method == nullptr) return {};
  return message.cseq->method;
}

std::string via_branch(const osip_message_t& message) {
  osip_via_t* via = nullptr;
  if (osip_message_get_via(&message, 0, &via) < 0 || via == nullptr) return {};
  osip_generic_param_t* branch = nullptr;
  if (osip_via_param_get_byname(via, const_cast<char*>("branch"), &branch) < 0 ||
      branch == nullptr || branch->gvalue == nullptr) {
    return {};
  }
  return branch->gvalue;
}

}  // namespace sotto::sip::wire
