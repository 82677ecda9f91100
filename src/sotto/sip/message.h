// Private to sotto/sip: the fields of a parsed SIP message the agent works
// with, copied out of libosip2's structures once, and helpers to write
// requests and responses as text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sotto/sip/wire.h"

namespace sotto::sip {

struct NameAddr {
  std::string display;  // unquoted display name
  std::string uri;      // "sip:bob@example.org:5060;transport=tcp" (URI params kept)
  std::string tag;      // the "tag" parameter
  std::string header;   // the whole value as received, parameters included
};

struct ViaInfo {
  std::string header;    // the whole value
  std::string protocol;  // "UDP", "TCP", "TLS"
  std::string host;
  uint16_t port = 0;  // 0: absent
  std::string branch;
  std::string received;
  std::optional<uint16_t> rport;  // with a value
};

struct Message {
  bool request = false;
  std::string method;  // request method, or the CSeq method of a response
  std::string request_uri;
  int status = 0;
  std::string reason;
  std::vector<ViaInfo> vias;
  NameAddr from;
  NameAddr to;
  std::string call_id;
  uint32_t cseq = 0;
  std::string cseq_method;
  std::optional<NameAddr> contact;  // the first Contact
  std::optional<int> contact_expires;
  struct ContactExpiry {
    std::string uri;
    std::optional<int> expires;
  };
  std::vector<ContactExpiry> contacts;     // every Contact (REGISTER responses)
  std::vector<std::string> record_routes;  // values, in order
  std::optional<int> expires;
  std::optional<int> min_expires;
  std::vector<std::string> www_authenticate;    // values ("Digest realm=..")
  std::vector<std::string> proxy_authenticate;  // values
  std::string content_type;
  std::string body;
};

// Copies the fields out; an error text when something the agent needs is
// unusable (a CSeq that is not a number, say).
std::optional<Message> extract(const osip_message_t& message, std::string* error);

// URI pieces, parsed by libosip2.
struct UriParts {
  std::string scheme;  // "sip" / "sips"
  std::string user;
  std::string host;
  uint16_t port = 0;      // 0: absent
  std::string transport;  // lowercase "transport" parameter, "" if none
  bool lr = false;
};
std::optional<UriParts> parse_uri(std::string_view uri);

// "<sip:...>" from a Route/Record-Route value, or the URI itself.
std::string strip_brackets(std::string_view value);

// The canonical reason phrase for a status ("Busy Here").
std::string_view reason_phrase(int status);

// Random tag / branch material.
std::string random_token(std::size_t length = 12);

}  // namespace sotto::sip
