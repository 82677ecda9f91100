#include "sotto/sip/message.h"

#include <charconv>
#include <cstring>

#include <openssl/rand.h>
#include <osipparser2/osip_parser.h>

namespace sotto::sip {
namespace {

std::string take(char* text) {
  if (text == nullptr) return {};
  std::string out(text);
  osip_free(text);
  return out;
}

std::string str(const char* text) { return text != nullptr ? std::string(text) : std::string(); }

template <class Int>
std::optional<Int> number(std::string_view text) {
  Int value{};
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string unquote(std::string text) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
      if (text[i] == '\\' && i + 2 < text.size()) ++i;
      out.push_back(text[i]);
    }
    return out;
  }
  return text;
}

std::string param(osip_list_t* list, const char* name) {
  osip_generic_param_t* p = nullptr;
  if (osip_generic_param_get_byname(list, const_cast<char*>(name), &p) == 0 && p != nullptr)
    return str(p->gvalue);
  return {};
}

bool has_param(osip_list_t* list, const char* name) {
  osip_generic_param_t* p = nullptr;
  return osip_generic_param_get_byname(list, const_cast<char*>(name), &p) == 0 && p != nullptr;
}

NameAddr name_addr(osip_from_t* from) {
  NameAddr out;
  if (from == nullptr) return out;
  out.display = unquote(str(from->displayname));
  if (from->url != nullptr) {
    char* uri = nullptr;
    if (osip_uri_to_str(from->url, &uri) == 0) out.uri = take(uri);
  }
  out.tag = param(&from->gen_params, "tag");
  char* whole = nullptr;
  if (osip_from_to_str(from, &whole) == 0) out.header = take(whole);
  return out;
}

std::string header_value(const osip_message_t& message, const char* name) {
  osip_header_t* header = nullptr;
  if (osip_message_header_get_byname(&message, name, 0, &header) >= 0 && header != nullptr)
    return str(header->hvalue);
  return {};
}

}  // namespace

std::optional<Message> extract(const osip_message_t& m, std::string* error) {
  auto& msg = const_cast<osip_message_t&>(m);
  auto bad = [&](std::string why) -> std::optional<Message> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  Message out;
  out.request = MSG_IS_REQUEST(&msg);
  if (out.request) {
    out.method = str(msg.sip_method);
    if (msg.req_uri != nullptr) {
      char* uri = nullptr;
      if (osip_uri_to_str(msg.req_uri, &uri) == 0) out.request_uri = take(uri);
    }
    if (out.method.empty() || out.request_uri.empty()) return bad("no method or Request-URI");
  } else {
    out.status = msg.status_code;
    out.reason = str(msg.reason_phrase);
  }
  for (int i = 0;; ++i) {
    osip_via_t* via = nullptr;
    if (osip_message_get_via(&msg, i, &via) < 0 || via == nullptr) break;
    ViaInfo info;
    char* whole = nullptr;
    if (osip_via_to_str(via, &whole) == 0) info.header = take(whole);
    info.protocol = str(via->protocol);
    for (auto& c : info.protocol)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    info.host = str(via->host);
    if (via->port != nullptr) info.port = number<uint16_t>(via->port).value_or(0);
    info.branch = param(&via->via_params, "branch");
    info.received = param(&via->via_params, "received");
    if (has_param(&via->via_params, "rport")) {
      auto value = param(&via->via_params, "rport");
      if (!value.empty()) info.rport = number<uint16_t>(value);
    }
    out.vias.push_back(std::move(info));
  }
  if (out.vias.empty()) return bad("no Via");
  if (msg.from == nullptr || msg.to == nullptr || msg.call_id == nullptr || msg.cseq == nullptr)
    return bad("a mandatory header is missing");
  out.from = name_addr(msg.from);
  out.to = name_addr(msg.to);
  out.call_id = take([&] {
    char* id = nullptr;
    osip_call_id_to_str(msg.call_id, &id);
    return id;
  }());
  auto cseq = number<uint32_t>(str(msg.cseq->number));
  if (!cseq) return bad("CSeq is not a number");
  out.cseq = *cseq;
  out.cseq_method = str(msg.cseq->method);
  if (!out.request) out.method = out.cseq_method;
  osip_contact_t* contact = nullptr;
  if (osip_message_get_contact(&msg, 0, &contact) >= 0 && contact != nullptr) {
    out.contact = name_addr(contact);
    auto expires = param(&contact->gen_params, "expires");
    if (!expires.empty()) out.contact_expires = number<int>(expires);
  }
  for (int i = 0; i < 64; ++i) {
    osip_contact_t* each = nullptr;
    if (osip_message_get_contact(&msg, i, &each) < 0 || each == nullptr) break;
    Message::ContactExpiry entry;
    if (each->url != nullptr) {
      char* uri = nullptr;
      if (osip_uri_to_str(each->url, &uri) == 0) entry.uri = take(uri);
    }
    auto expires = param(&each->gen_params, "expires");
    if (!expires.empty()) entry.expires = number<int>(expires);
    out.contacts.push_back(std::move(entry));
  }
  for (int i = 0;; ++i) {
    osip_record_route_t* rr = nullptr;
    if (osip_message_get_record_route(&msg, i, &rr) < 0 || rr == nullptr) break;
    char* text = nullptr;
    if (osip_record_route_to_str(rr, &text) == 0) out.record_routes.push_back(take(text));
  }
  if (auto expires = header_value(msg, "expires"); !expires.empty())
    out.expires = number<int>(expires);
  if (auto min = header_value(msg, "min-expires"); !min.empty()) out.min_expires = number<int>(min);
  for (int i = 0;; ++i) {
    osip_www_authenticate_t* wa = nullptr;
    if (osip_message_get_www_authenticate(&msg, i, &wa) < 0 || wa == nullptr) break;
    char* text = nullptr;
    if (osip_www_authenticate_to_str(wa, &text) == 0) out.www_authenticate.push_back(take(text));
  }
  for (int i = 0;; ++i) {
    osip_proxy_authenticate_t* pa = nullptr;
    if (osip_message_get_proxy_authenticate(&msg, i, &pa) < 0 || pa == nullptr) break;
    char* text = nullptr;
    if (osip_proxy_authenticate_to_str(pa, &text) == 0)
      out.proxy_authenticate.push_back(take(text));
  }
  if (msg.content_type != nullptr) {
    char* text = nullptr;
    if (osip_content_type_to_str(msg.content_type, &text) == 0) out.content_type = take(text);
  }
  osip_body_t* body = nullptr;
  if (osip_message_get_body(&msg, 0, &body) >= 0 && body != nullptr && body->body != nullptr)
    out.body.assign(body->body, body->length);
  return out;
}

std::optional<UriParts> parse_uri(std::string_view text) {
  osip_uri_t* uri = nullptr;
  if (osip_uri_init(&uri) != 0) return std::nullopt;
  std::string copy(text);
  std::optional<UriParts> out;
  if (osip_uri_parse(uri, copy.c_str()) == 0 && uri->host != nullptr) {
    UriParts parts;
    parts.scheme = str(uri->scheme);
    for (auto& c : parts.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    parts.user = str(uri->username);
    parts.host = str(uri->host);
    bool ok = true;
    if (uri->port != nullptr && *uri->port != '\0') {
      auto port = number<uint16_t>(uri->port);
      if (!port)
        ok = false;
      else
        parts.port = *port;
    }
    parts.transport = param(&uri->url_params, "transport");
    for (auto& c : parts.transport)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    parts.lr = has_param(&uri->url_params, "lr");
    if (ok) out = std::move(parts);
  }
  osip_uri_free(uri);
  return out;
}

std::string strip_brackets(std::string_view value) {
  auto open = value.find('<');
  auto close = value.find('>', open == std::string_view::npos ? 0 : open);
  if (open != std::string_view::npos && close != std::string_view::npos)
    return std::string(value.substr(open + 1, close - open - 1));
  auto semi = value.find(';');
  return std::string(value.substr(0, semi));
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Trying";
    case 180:
      return "Ringing";
    case 183:
      return "Session Progress";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 480:
      return "Temporarily Unavailable";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 486:
      return "Busy Here";
    case 487:
      return "Request Terminated";
    case 488:
      return "Not Acceptable Here";
    case 491:
      return "Request Pending";
    case 500:
      return "Server Internal Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "Version Not Supported";
    case 600:
      return "Busy Everywhere";
    case 603:
      return "Decline";
    case 606:
      return "Not Acceptable";
    default:
      break;
  }
  if (status < 200) return "Session Progress";
  if (status < 300) return "OK";
  if (status < 400) return "Redirect";
  if (status < 500) return "Request Failure";
  if (status < 600) return "Server Error";
  return "Global Failure";
}

std::string random_token(std::size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string bytes(length, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(length));
  for (auto& c : bytes) c = kAlphabet[static_cast<unsigned char>(c) % 36];
  return bytes;
}

}  // namespace sotto::sip
