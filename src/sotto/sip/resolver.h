// Private to sotto/sip: where to send for a SIP domain (RFC 3263: NAPTR,
// SRV, then A/AAAA), without blocking the core thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>

#include "sotto/base/base.h"
#include "sotto/sip/sip.h"

namespace sotto::sip {

struct ServerTarget {
  Transport transport = Transport::udp;
  asio::ip::address address;
  uint16_t port = 0;
  std::string host;  // the name the certificate must carry (TLS)
};

// Blocking: the lookups for `host`. With `port` set, or `host` an IP
// literal, "localhost" or under ".invalid", no NAPTR/SRV query is sent.
// With `exact` (an outbound proxy) only A/AAAA are asked for.
Result<std::vector<ServerTarget>> lookup_sip_server(const std::string& host, uint16_t port,
                                                    Transport transport, bool exact);

// Runs lookup_sip_server on a worker thread and hands the result to `done`
// on `executor`. Destroying the resolver returns at once; `done` is then
// never called.
class ServerResolver {
 public:
  explicit ServerResolver(asio::any_io_executor executor);
  ~ServerResolver();
  ServerResolver(const ServerResolver&) = delete;
  ServerResolver& operator=(const ServerResolver&) = delete;

  void resolve(std::string host, uint16_t port, Transport transport, bool exact,
               std::function<void(Result<std::vector<ServerTarget>>)> done);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sotto::sip
